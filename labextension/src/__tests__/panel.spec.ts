import { DeploykitRequestError } from '../api';
import { DeploymentsPanel } from '../panel';
import { IRollbackAnswer, IRollbackPrompt, RollbackForm } from '../rollback';
import { FakeAPI } from './fakes';

function setup(answer: IRollbackAnswer | null = { to: null, reason: 'p95 doubled' }) {
  const api = new FakeAPI();
  const prompts: IRollbackPrompt[] = [];
  const panel = new DeploymentsPanel({
    api,
    refreshMs: 0,
    confirmRollback: async prompt => {
      prompts.push(prompt);
      return answer;
    }
  });
  return { api, panel, prompts };
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
      'live',
      'jp-DeploykitBadge jp-mod-live',
      '12 requests in the last 15 minutes.'
    ]);
    // figures the server did not send (yet) read as a dash
    for (const name of ['live', 'rps', 'p95', 'drift']) {
      expect(field(items[1], name)).toMatch(/ –$/);
    }
    expect(text(panel.node.querySelector('.jp-DeploykitPanel-target'))).toBe(
      'Server: http://127.0.0.1:8765'
    );
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
  async function opened(answer?: IRollbackAnswer | null) {
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
    expect(text(rows[0].querySelector('.jp-DeploykitPanel-versionMeta'))).toMatch(
      /^2025-01-0[12] \d\d:00 · ana · accuracy 0.92, roc_auc 0.95$/
    );
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
    expect(prompts[0]).toMatchObject({ model: 'churn', live_version: 2 });
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

  it('refuses a rollback without a reason', async () => {
    const { api, panel } = await opened({ to: 1, reason: '   ' });
    expect(await panel.rollback()).toBeNull();
    expect(api.rollbacks).toHaveLength(0);
    expect(panel.notice).toContain('needs a reason');
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

  it('offers the previous version by default and every other version', () => {
    const form = new RollbackForm(prompt);
    expect(Array.from(form.target.options).map(o => o.value)).toEqual(['', '2', '1']);
    expect(form.getValue()).toEqual({ to: null, reason: '' });
    form.target.value = '1';
    form.reason.value = ' bad drift ';
    expect(form.getValue()).toEqual({ to: 1, reason: 'bad drift' });
    expect(form.node.textContent).toContain('Production of churn serves version 3.');
  });
});
