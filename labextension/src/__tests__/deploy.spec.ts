import { DeploykitRequestError } from '../api';
import { DeployForm, IDeployAnswer, IDeployPrompt, deployQuestion } from '../deploy';
import { DeploymentsPanel } from '../panel';
import { FakeAPI } from './fakes';

const text = (node: Element | null) => node?.textContent ?? '';

async function opened(answer: IDeployAnswer | null = { reason: 'better recall' }) {
  const api = new FakeAPI();
  const prompts: IDeployPrompt[] = [];
  const panel = new DeploymentsPanel({
    api,
    refreshMs: 0,
    confirmRollback: async () => null,
    confirmDeploy: async prompt => {
      prompts.push(prompt);
      return answer;
    }
  });
  await panel.refresh();
  await panel.open('churn');
  return { api, panel, prompts };
}

describe('DeploymentsPanel per-version Deploy', () => {
  it('offers Deploy on every version but the live one', async () => {
    const { panel } = await opened();
    const rows = Array.from(panel.node.querySelectorAll('.jp-DeploykitPanel-versions li'));
    const deployable = rows
      .filter(li => li.querySelector('.jp-DeploykitPanel-deploy'))
      .map(li => (li as HTMLElement).dataset.version);
    expect(deployable).toEqual(['1']); // v2 is in production
  });

  it('deploys the clicked version after confirmation, from the version the user saw', async () => {
    const { api, panel, prompts } = await opened({ reason: ' the baseline calibrates better ' });
    const button = panel.node.querySelector('.jp-DeploykitPanel-deploy') as HTMLButtonElement;
    button.click();
    await new Promise(resolve => setTimeout(resolve, 0));
    await panel.refresh();
    expect(prompts).toEqual([{ model: 'churn', version: 1, live_version: 2 }]);
    expect(api.deploys).toEqual([
      {
        name: 'churn',
        request: { version: 1, reason: 'the baseline calibrates better', if_current: 2 }
      }
    ]);
    expect(panel.notice).toBe('churn: production moved from v2 to v1.');
    expect(text(panel.node.querySelector('.jp-DeploykitPanel-live'))).toBe('In production: v1');
    // now v2 is the one offered
    const again = panel.node.querySelector('.jp-DeploykitPanel-versions li[data-version="2"]');
    expect(again?.querySelector('.jp-DeploykitPanel-deploy')).not.toBeNull();
  });

  it('does nothing when cancelled or without a reason', async () => {
    const cancelled = await opened(null);
    expect(await cancelled.panel.deploy(1)).toBeNull();
    expect(cancelled.api.deploys).toHaveLength(0);
    const silent = await opened({ reason: '  ' });
    expect(await silent.panel.deploy(1)).toBeNull();
    expect(silent.api.deploys).toHaveLength(0);
    expect(silent.panel.notice).toContain('A deploy needs a reason');
  });

  it("shows the server's refusal", async () => {
    const { api, panel } = await opened();
    api.deploy = async () => {
      throw new DeploykitRequestError('production moved since you looked', 409, 'ConflictError');
    };
    expect(await panel.deploy(1)).toBeNull();
    expect(panel.notice).toBe('Deploy failed: production moved since you looked');
  });

  it('has no Deploy buttons without a deploy dialog', async () => {
    const api = new FakeAPI();
    const panel = new DeploymentsPanel({ api, refreshMs: 0, confirmRollback: async () => null });
    await panel.refresh();
    await panel.open('churn');
    expect(panel.node.querySelector('.jp-DeploykitPanel-deploy')).toBeNull();
    expect(await panel.deploy(1)).toBeNull();
  });
});

describe('DeployForm', () => {
  it('asks which way production moves and keeps the reason', () => {
    const prompt = { model: 'churn', version: 3, live_version: 2 };
    expect(deployQuestion(prompt)).toBe(
      'Point production of churn at version 3? Now it serves v2; every replica switches ' +
        'within a second.'
    );
    const form = new DeployForm(prompt);
    form.reason.value = ' new data ';
    expect(form.getValue()).toEqual({ reason: 'new data' });
    expect(deployQuestion({ ...prompt, live_version: null })).toContain(
      'Now nothing is in production yet'
    );
  });
});

describe('The refresh setting', () => {
  it("overrides the server's period, 0 stops polling, null goes back", async () => {
    const api = new FakeAPI();
    const panel = new DeploymentsPanel({ api, refreshMs: 0, confirmRollback: async () => null });
    await panel.refresh();
    expect(panel.refreshMs).toBe(5000); // the server extension's refresh_seconds
    panel.setRefreshSeconds(30);
    expect(panel.refreshMs).toBe(30000);
    panel.setRefreshSeconds(0);
    expect(panel.refreshMs).toBe(0);
    panel.setRefreshSeconds(null);
    expect(panel.refreshMs).toBe(5000);
  });
});
