import { DeploykitRequestError } from '../api';
import { DeploymentsPanel } from '../panel';
import {
  IDeployPrompt,
  IRollbackAnswer,
  IRollbackPrompt,
  RollbackForm
} from '../rollback';
import { FakeAPI } from './fakes';

function setup(
  answer: IRollbackAnswer | null | Array<IRollbackAnswer | null> = {
    to: null,
    reason: 'p95 doubled'
  }
) {
  const api = new FakeAPI();
  const prompts: IRollbackPrompt[] = [];
  const deployPrompts: IDeployPrompt[] = [];
  const answers = Array.isArray(answer) ? [...answer] : null;
  const panel = new DeploymentsPanel({
    api,
    refreshMs: 0,
    confirmRollback: async prompt => {
      prompts.push(prompt);
      return answers ? (answers.shift() ?? null) : (answer as IRollbackAnswer | null);
    },
    confirmDeploy: async prompt => {
      deployPrompts.push(prompt);
      return { reason: 'baseline was better' };
    }
  });
  return { api, panel, prompts, deployPrompts };
}

const text = (node: Element | null) => node?.textContent ?? '';

describe('DeploymentsPanel list', () => {
  it('shows every model with live version, badge and figures', async () => {
    const { api, panel } = setup();
    api.extraRows = [{ name: 'draft', live_version: null, status: 'not deployed' }];
    await panel.refresh();
    const items = panel.node.querySelectorAll('li.jp-DeploykitPanel-model');
    expect(Array.from(items).map(li => (li as HTMLElement).dataset.model)).toEqual([
      'churn',
      'draft'
    ]);
    const churn = items[0];
    const field = (li: Element, name: string) =>
      text(li.querySelector(`[data-field="${name}"]`));
    expect(field(churn, 'live')).toBe('live v2');
    expect(field(churn, 'rps')).toBe('req/s 0.01');
    expect(field(churn, 'p95')).toBe('p95 4.2 ms');
    expect(field(churn, 'drift')).toBe('drift 25%');
    const badge = churn.querySelector('.jp-DeploykitBadge') as HTMLElement;
    expect([badge.textContent, badge.className, badge.title]).toEqual([
      'serving',
      'jp-DeploykitBadge jp-mod-serving',
      '12 requests in the last 5 minutes.'
    ]);
    // figures the server did not send (yet) read as a dash
    for (const name of ['live', 'rps', 'p95', 'drift']) {
      expect(field(items[1], name)).toMatch(/ –$/);
    }
    expect(text(panel.node.querySelector('.jp-DeploykitPanel-target'))).toBe(
      'Server: http://127.0.0.1:8765'
    );
  });

  it('shows a running canary beside the status badge', async () => {
    const { api, panel } = setup();
    api.extraRows = [
      { name: 'trial', live_version: 3, status: 'serving', experiment: 'canary 10%' }
    ];
    await panel.refresh();
    const trial = panel.node.querySelector('li[data-model="trial"]') as HTMLElement;
    const badges = Array.from(trial.querySelectorAll('.jp-DeploykitBadge')).map(
      b => b.textContent
    );
    expect(badges).toEqual(['serving', 'canary 10%']);
    const churn = panel.node.querySelector('li[data-model="churn"]') as HTMLElement;
    expect(churn.querySelectorAll('.jp-DeploykitBadge')).toHaveLength(1);
  });

  it('says when figures need a server', async () => {
    const { api, panel } = setup();
    api.status_ = {
      ...api.status_,
      mode: 'embedded',
      target: 'sqlite:////home/ana/.deploykit/registry.db',
      figures: false,
      note: 'Embedded registry: versions and rollbacks only.'
    };
    await panel.refresh();
    const note = panel.node.querySelector('.jp-DeploykitPanel-note') as HTMLElement;
    expect(note.hidden).toBe(false);
    expect(note.textContent).toContain('Embedded registry');
    expect(text(panel.node.querySelector('.jp-DeploykitPanel-target'))).toContain(
      'Embedded registry: sqlite'
    );
  });

  it('shows a failed refresh and recovers on the next one', async () => {
    const { api, panel } = setup();
    api.failModels = new DeploykitRequestError('Cannot reach the deploykit server', 503);
    await panel.refresh();
    const error = panel.node.querySelector('.jp-DeploykitPanel-error') as HTMLElement;
    expect([error.hidden, error.textContent]).toEqual([false, 'Cannot reach the deploykit server']);
    api.failModels = null;
    await panel.refresh();
    expect(error.hidden).toBe(true);
    expect(panel.models).toHaveLength(1);
  });

  it('never says "Loading…" after an error, and Refresh recovers from a failed status', async () => {
    const { api, panel } = setup();
    api.failStatus = new DeploykitRequestError('Jupyter server not reachable', 0);
    await panel.refresh(true);
    expect(text(panel.node.querySelector('.jp-DeploykitPanel-empty'))).toBe(
      'The models could not be read (see above). Refresh to try again.'
    );
    api.failStatus = null;
    (panel.node.querySelector('.jp-DeploykitPanel-refresh') as HTMLButtonElement).click();
    await new Promise(resolve => setTimeout(resolve, 0));
    await panel.refresh();
    expect(panel.error).toBeNull();
    expect(panel.models.map(m => m.name)).toEqual(['churn']);
  });

  it('drops what it showed when the server-side configuration changes', async () => {
    const { api, panel } = setup();
    await panel.refresh();
    await panel.open('churn');
    expect(panel.detail).not.toBeNull();
    api.status_ = {
      ...api.status_,
      target: 'http://10.0.0.9:8765',
      config_id: 'second',
      access: { role: 'viewer', name: 'analyst', can_act: false, reason: 'Read-only: viewer.' }
    };
    await panel.refresh();
    expect(panel.selected).toBeNull();
    expect(panel.notice).toBe('The Jupyter server now uses server: http://10.0.0.9:8765.');
    expect(text(panel.node.querySelector('.jp-DeploykitPanel-target'))).toBe(
      'Server: http://10.0.0.9:8765'
    );
    expect(panel.canAct).toBe(false);
  });

  it('announces a configuration change even when a refresh failed in between', async () => {
    const { api, panel } = setup();
    await panel.refresh();
    // Jupyter restarts: one poll cannot read the status, the next finds another target.
    api.failStatus = new DeploykitRequestError('Jupyter server not reachable', 0);
    await panel.refresh();
    expect(panel.error).toBe('Jupyter server not reachable');
    api.failStatus = null;
    api.status_ = { ...api.status_, target: 'http://10.0.0.9:8765', config_id: 'second' };
    await panel.refresh(true);
    expect(panel.error).toBeNull();
    expect(panel.notice).toBe('The Jupyter server now uses server: http://10.0.0.9:8765.');
  });

  it('coalesces overlapping refreshes into one request', async () => {
    const { api, panel } = setup();
    await Promise.all([panel.refresh(), panel.refresh(), panel.refresh()]);
    expect(api.calls).toEqual(['status', 'models']);
  });

  it('explains the empty state', async () => {
    const { api, panel } = setup();
    api.models = async () => [];
    await panel.refresh();
    expect(text(panel.node.querySelector('.jp-DeploykitPanel-empty'))).toContain(
      '%deploy push model --name NAME'
    );
  });
});

describe('DeploymentsPanel details and rollback', () => {
  async function opened(answer?: IRollbackAnswer | null | Array<IRollbackAnswer | null>) {
    const ctx = setup(answer);
    await ctx.panel.refresh();
    (ctx.panel.node.querySelector('.jp-DeploykitPanel-open') as HTMLButtonElement).click();
    await new Promise(resolve => setTimeout(resolve, 0));
    return ctx;
  }

  it('opens a model from its button with versions newest first', async () => {
    const { panel } = await opened();
    expect(panel.selected).toBe('churn');
    const rows = panel.node.querySelectorAll('.jp-DeploykitPanel-versions li');
    expect(Array.from(rows).map(li => (li as HTMLElement).dataset.version)).toEqual(['2', '1']);
    expect(rows[0].classList.contains('jp-mod-live')).toBe(true);
    expect(text(rows[0].querySelector('.jp-DeploykitPanel-versionTop'))).toBe('v2 production');
    expect(text(rows[0].querySelector('.jp-DeploykitPanel-versionWhat'))).toBe(
      'LogisticRegression · roc_auc 0.95'
    );
    expect(text(rows[1].querySelector('.jp-DeploykitPanel-versionDescription'))).toBe(
      'baseline'
    );
    expect(text(rows[0].querySelector('.jp-DeploykitPanel-versionMeta'))).toMatch(
      /^2025-01-0[12] \d\d:00 · ana$/
    );
    // Deploy on every version but the live one
    expect(rows[0].querySelector('.jp-DeploykitPanel-deploy')).toBeNull();
    expect(text(rows[1].querySelector('.jp-DeploykitPanel-deploy'))).toBe('Deploy');
    expect(text(panel.node.querySelector('.jp-DeploykitPanel-events'))).toContain(
      'deploy 1 → 2 by ana'
    );
    expect((panel.node.querySelector('.jp-DeploykitPanel-models') as HTMLElement).hidden).toBe(
      true
    );
    const rollback = panel.node.querySelector('.jp-DeploykitPanel-rollback') as HTMLButtonElement;
    expect([rollback.textContent, rollback.disabled]).toEqual(['Rollback…', false]);
  });

  it('rolls back after confirmation, from the version the user saw', async () => {
    const { api, panel, prompts } = await opened({ to: null, reason: ' p95 doubled ' });
    const reply = await panel.rollback();
    expect(prompts[0]).toMatchObject({
      model: 'churn',
      live_version: 2,
      targets: [1],
      previous: 1
    });
    expect(api.rollbacks).toEqual([
      { name: 'churn', request: { reason: 'p95 doubled', to: null, if_current: 2 } }
    ]);
    expect(reply?.version).toBe(1);
    expect(panel.notice).toBe('churn: production moved from v2 to v1.');
    expect(panel.detail?.live_version).toBe(1); // re-read after the move
    expect(text(panel.node.querySelector('.jp-DeploykitPanel-live'))).toBe('In production: v1');
  });

  it('does nothing when the dialog is cancelled', async () => {
    const { api, panel } = await opened(null);
    expect(await panel.rollback()).toBeNull();
    expect(api.rollbacks).toHaveLength(0);
  });

  it('asks again, keeping what was chosen, when the reason is empty', async () => {
    const { api, panel, prompts } = await opened([
      { to: 1, reason: '   ' },
      { to: 1, reason: 'drift on age' }
    ]);
    const reply = await panel.rollback();
    expect(prompts).toHaveLength(2);
    expect(prompts[1].answer).toEqual({ to: 1, reason: '   ' });
    expect(prompts[1].error).toContain('Say why');
    expect(api.rollbacks[0].request).toEqual({ reason: 'drift on age', to: 1, if_current: 2 });
    expect(reply?.version).toBe(1);
  });

  it('moves nothing when the second dialog is cancelled', async () => {
    const { api, panel } = await opened([{ to: 1, reason: '' }, null]);
    expect(await panel.rollback()).toBeNull();
    expect(api.rollbacks).toHaveLength(0);
  });

  it('deploys a chosen version from its row, from the version the user saw', async () => {
    const { api, panel, deployPrompts } = await opened();
    const row = panel.node.querySelector('.jp-DeploykitPanel-versions li[data-version="1"]');
    (row?.querySelector('.jp-DeploykitPanel-deploy') as HTMLButtonElement).click();
    await new Promise(resolve => setTimeout(resolve, 0));
    await panel.refresh();
    expect(deployPrompts[0]).toMatchObject({ model: 'churn', live_version: 2 });
    expect(api.deploys).toEqual([
      { name: 'churn', request: { version: 1, reason: 'baseline was better', if_current: 2 } }
    ]);
    expect(panel.notice).toBe('churn: production moved from v2 to v1.');
    expect(panel.detail?.live_version).toBe(1);
  });

  it('shows a viewer no Rollback and no Deploy, and says why', async () => {
    const ctx = setup();
    ctx.api.status_ = {
      ...ctx.api.status_,
      access: {
        role: 'viewer',
        name: 'analyst',
        can_act: false,
        reason: "Read-only: the token has the 'viewer' role."
      }
    };
    await ctx.panel.refresh();
    await ctx.panel.open('churn');
    const node = ctx.panel.node;
    expect(node.querySelector('.jp-DeploykitPanel-rollback')).toBeNull();
    expect(node.querySelector('.jp-DeploykitPanel-deploy')).toBeNull();
    const note = node.querySelector('.jp-DeploykitPanel-readonly') as HTMLElement;
    expect([note.hidden, note.textContent]).toEqual([
      false,
      "Read-only: the token has the 'viewer' role."
    ]);
    expect(await ctx.panel.rollback()).toBeNull();
    expect(await ctx.panel.deploy(1)).toBeNull();
    expect(ctx.prompts).toHaveLength(0);
  });

  it("shows the server's refusal", async () => {
    const { api, panel } = await opened();
    api.rollback = async () => {
      throw new DeploykitRequestError('production moved since you looked', 409, 'ConflictError');
    };
    expect(await panel.rollback()).toBeNull();
    expect(panel.notice).toBe('Rollback failed: production moved since you looked');
    const notice = panel.node.querySelector('.jp-DeploykitPanel-notice') as HTMLElement;
    expect(notice.classList.contains('jp-mod-error')).toBe(true);
  });

  it('goes back to the list when the model is gone', async () => {
    const { api, panel } = await opened();
    api.model = async () => {
      throw new DeploykitRequestError("No model named 'churn'", 404, 'ModelNotFoundError');
    };
    await panel.refresh();
    expect(panel.selected).toBeNull();
    expect(panel.notice).toBe("No model named 'churn'");
  });

  it('returns to the list from the All models button', async () => {
    const { panel } = await opened();
    (panel.node.querySelector('.jp-DeploykitPanel-back') as HTMLButtonElement).click();
    expect(panel.selected).toBeNull();
    expect((panel.node.querySelector('.jp-DeploykitPanel-models') as HTMLElement).hidden).toBe(
      false
    );
  });
});

describe('RollbackForm', () => {
  const prompt: IRollbackPrompt = {
    model: 'churn',
    live_version: 3,
    versions: [3, 2, 1].map(v => ({
      version: v,
      created_at: '2025-01-02T10:00:00Z',
      author: 'ana',
      estimator: 'x',
      aliases: [],
      metrics: {}
    }))
  };

  it('offers only real targets, the previous production version first chosen', () => {
    const form = new RollbackForm({ ...prompt, targets: [2, 1], previous: 1 });
    expect(Array.from(form.target.options).map(o => o.value)).toEqual(['2', '1']);
    expect(form.target.options[1].text).toMatch(/^version 1: x, – \(.*, ana\) \(served before\)$/);
    expect(form.getValue()).toEqual({ to: 1, reason: '' });
    form.target.value = '2';
    form.reason.value = ' bad drift ';
    expect(form.getValue()).toEqual({ to: 2, reason: 'bad drift' });
    expect(form.node.textContent).toContain('Production of churn serves version 3.');
  });

  it('shows again what was typed, and why it was refused', () => {
    const form = new RollbackForm({
      ...prompt,
      targets: [2, 1],
      previous: 1,
      answer: { to: 2, reason: 'half a sent' },
      error: 'Say why.'
    });
    expect(form.getValue()).toEqual({ to: 2, reason: 'half a sent' });
    expect(text(form.node.querySelector('[role="alert"]'))).toBe('Say why.');
  });

  it('offers nothing when there is no other version', () => {
    const form = new RollbackForm({ ...prompt, targets: [], previous: null });
    expect(form.target.options).toHaveLength(0);
  });
});
