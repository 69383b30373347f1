import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  DeploykitRequestError,
  IDeploykitAPI,
  IModelDetail,
  IModelRow,
  IRollbackReply,
  IStatus,
  IVersionRow
} from './api';
import {
  badge,
  button,
  el,
  errorText,
  eventsList,
  figure,
  focusKey,
  restoreFocus,
  versionsList
} from './dom';
import { formatEstimate, formatMs, formatRate, formatShare, formatVersion } from './format';
import { ConfirmDeploy, ConfirmRollback } from './rollback';

export const PANEL_ID = 'deploykit-sidebar';
const DEFAULT_REFRESH_MS = 5000;

export interface IPanelOptions {
  api: IDeploykitAPI;
  /** The confirm dialogs (Lab's showDialog in the app, stubs in tests). */
  confirmRollback: ConfirmRollback;
  confirmDeploy?: ConfirmDeploy;
  /** Shows an "Open console" button that calls this. */
  openConsole?: () => void;
  /** The address of a version's model card (a page of the Jupyter server); none: no links. */
  cardUrl?: (name: string, version: number) => string;
  /** Poll period until the server's status gives one; 0 turns polling off. */
  refreshMs?: number;
}

/**
 * The "Deployments" sidebar: every model with its live version and figures,
 * one model's versions with a Rollback button. It refreshes itself while
 * visible. All server calls go through the injected API, so it runs without Lab.
 */
export class DeploymentsPanel extends Widget {
  constructor(options: IPanelOptions) {
    super();
    this._api = options.api;
    this._confirm = options.confirmRollback;
    this._confirmDeploy = options.confirmDeploy ?? null;
    this._cardUrl = options.cardUrl ?? null;
    this._refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
    this.id = PANEL_ID;
    this.addClass('jp-DeploykitPanel');
    this.title.caption = 'Deployments (deploykit): models in production';

    const header = el('div', 'jp-DeploykitPanel-header');
    header.append(el('h2', '', 'Deployments'));
    const actions = el('div', 'jp-DeploykitPanel-actions');
    actions.append(button('Refresh', 'jp-DeploykitPanel-refresh', () => this.refresh(true)));
    if (options.openConsole) {
      actions.append(button('Open console', 'jp-DeploykitPanel-console', options.openConsole));
    }
    header.append(actions);
    this.node.append(
      header,
      this._target,
      this._note,
      this._readOnly,
      this._error,
      this._notice,
      this._list,
      this._detailNode,
      this._updated
    );
    this._error.setAttribute('role', 'alert');
    this._notice.setAttribute('role', 'status');
    this._render();
  }

  get status(): IStatus | null {
    return this._status;
  }

  get models(): readonly IModelRow[] {
    return this._models;
  }

  /** The model whose details are open, if any. */
  get selected(): string | null {
    return this._selected;
  }

  get detail(): IModelDetail | null {
    return this._detail;
  }

  /** The last refresh error shown, if any. */
  get error(): string | null {
    return this._errorText;
  }

  /** The last outcome of an action (a rollback), if any. */
  get notice(): string | null {
    return this._noticeText;
  }

  /** Whether Deploy and Rollback are offered (the token's role allows them). */
  get canAct(): boolean {
    return this._status?.access?.can_act ?? true;
  }

  /**
   * Poll every `seconds` (the user's setting) instead of the server's
   * c.DeployKitLab.refresh_seconds; null goes back to the server's, 0 stops polling.
   */
  setRefreshSeconds(seconds: number | null): void {
    this._refreshOverride = seconds;
    this._startPolling();
  }

  /**
   * Read the status, the models and the open model again. A refresh after an error
   * starts from scratch; so does one that finds the Jupyter server's deploykit
   * configuration changed (another server, token or console).
   */
  refresh(full = false): Promise<void> {
    if (full && this._errorText) {
      this._status = null;
    }
    if (!this._pending) {
      this._pending = this._load().finally(() => {
        this._pending = null;
      });
    }
    return this._pending;
  }

  /** Show the details of `name`: its versions, recent moves and the Rollback button. */
  async open(name: string): Promise<void> {
    this._selected = name;
    this._detail = null;
    this._say(null);
    this._render();
    await this._loadDetail();
    this._render();
  }

  /** Back to the list of models. */
  close(): void {
    this._selected = null;
    this._detail = null;
    this._say(null);
    this._render();
  }

  /**
   * Confirm, then move production of the open model back. Nothing happens if
   * the dialog is cancelled or no reason is given.
   */
  async rollback(): Promise<IRollbackReply | null> {
    const detail = this._detail;
    if (!detail || detail.live_version === null || this._busy || !this.canAct) {
      return null;
    }
    const prompt = {
      model: detail.name,
      live_version: detail.live_version,
      versions: detail.versions,
      targets: detail.rollback_targets,
      previous: detail.previous_version ?? null
    };
    let answer = await this._confirm(prompt);
    // A refused answer reopens the dialog with what was typed, saying what is missing.
    while (answer && !answer.reason.trim()) {
      answer = await this._confirm({
        ...prompt,
        answer,
        error: 'Say why: the reason goes into the audit log. Nothing was changed yet.'
      });
    }
    if (!answer) {
      return null;
    }
    this._busy = true;
    this._say(`Rolling back ${detail.name}…`);
    try {
      const reply = await this._api.rollback(detail.name, {
        reason: answer.reason.trim(),
        to: answer.to,
        if_current: detail.live_version
      });
      this._say(
        `${reply.model}: production moved from ${formatVersion(reply.from_version)} ` +
          `to ${formatVersion(reply.version)}.`
      );
      return reply;
    } catch (reason) {
      this._say(`Rollback failed: ${errorText(reason)}`, true);
      return null;
    } finally {
      await this._settle();
    }
  }

  /** Confirm, then point production of the open model at `version`. */
  async deploy(version: number): Promise<IRollbackReply | null> {
    const detail = this._detail;
    const row = detail?.versions.find(v => v.version === version);
    if (!detail || !row || this._busy || !this.canAct || !this._confirmDeploy) {
      return null;
    }
    const live = detail.live_version;
    const answer = await this._confirmDeploy({ model: detail.name, version: row, live_version: live });
    if (!answer) {
      return null;
    }
    this._busy = true;
    this._say(`Deploying ${detail.name} v${version}…`);
    try {
      const reply = await this._api.deploy(detail.name, {
        version,
        reason: answer.reason.trim() || null,
        if_current: live
      });
      this._say(
        `${reply.model}: production moved from ${formatVersion(reply.from_version)} ` +
          `to ${formatVersion(reply.version)}.`
      );
      return reply;
    } catch (reason) {
      this._say(`Deploy failed: ${errorText(reason)}`, true);
      return null;
    } finally {
      await this._settle();
    }
  }

  private async _settle(): Promise<void> {
    this._busy = false;
    if (this._pending) {
      await this._pending; // a poll that started before the move would show the old state
    }
    await this.refresh();
  }

  dispose(): void {
    this._stopPolling();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._startPolling();
  }

  protected onBeforeDetach(msg: Message): void {
    this._stopPolling();
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
  }

  // ------------------------------------------------------------------ loading
  private async _load(): Promise<void> {
    try {
      const status = await this._api.status();
      const before = this._status;
      // Compared with the last configuration ever read, not `before`: a poll that failed
      // while Jupyter restarted (and the full refresh after it) must not hide the change.
      const seen = this._configId;
      this._status = status;
      this._configId = status.config_id ?? null;
      if (seen !== null && seen !== status.config_id) {
        // Jupyter restarted with another deploykit configuration: nothing shown still holds.
        this._selected = null;
        this._detail = null;
        this._models = [];
        this._say(`The Jupyter server now uses ${describeTarget(status)}.`);
      }
      if (!before || before.refresh_seconds !== status.refresh_seconds) {
        this._startPolling();
      }
      this._models = await this._api.models();
      this._errorText = null;
      this._lastUpdate = new Date();
    } catch (reason) {
      // Nothing stale stays on screen (no Rollback on a list that could not be read).
      this._errorText = errorText(reason);
      this._models = [];
      this._selected = null;
      this._detail = null;
    }
    if (this._selected) {
      await this._loadDetail();
    }
    this._render();
  }

  private async _loadDetail(): Promise<void> {
    const name = this._selected;
    if (!name) {
      return;
    }
    try {
      const detail = await this._api.model(name);
      if (this._selected === name) {
        this._detail = detail;
      }
    } catch (reason) {
      if (reason instanceof DeploykitRequestError && reason.status === 404) {
        this._selected = null;
        this._detail = null;
      }
      this._say(errorText(reason), true);
    }
  }

  private _startPolling(): void {
    this._stopPolling();
    const ms =
      this._refreshOverride !== null
        ? this._refreshOverride * 1000
        : this._status
          ? this._status.refresh_seconds * 1000
          : this._refreshMs;
    if (ms > 0 && this.isAttached) {
      this._timer = setInterval(() => {
        if (this.isVisible) {
          void this.refresh();
        }
      }, ms);
    }
  }

  private _stopPolling(): void {
    if (this._timer !== null) {
      clearInterval(this._timer);
      this._timer = null;
    }
  }

  private _say(text: string | null, isError = false): void {
    this._noticeText = text;
    this._noticeIsError = isError;
    this._renderNotice();
  }

  // ------------------------------------------------------------------ rendering
  private _render(): void {
    const focused = focusKey(this.node);
    const status = this._status;
    this._target.textContent = status ? capitalize(describeTarget(status)) : '';
    this._note.textContent = status?.note ?? '';
    this._note.hidden = !status?.note;
    const readOnly = this.canAct ? null : (status?.access?.reason ?? 'Read-only.');
    this._readOnly.textContent = readOnly ?? '';
    this._readOnly.hidden = !readOnly;
    this._error.textContent = this._errorText ?? '';
    this._error.hidden = !this._errorText;
    this._renderNotice();
    this._list.hidden = this._selected !== null;
    this._detailNode.hidden = this._selected === null;
    if (this._selected === null) {
      this._renderList();
    } else {
      this._renderDetail();
    }
    this._updated.textContent = this._lastUpdate
      ? `Updated ${this._lastUpdate.toLocaleTimeString()}`
      : '';
    restoreFocus(this.node, focused);
  }

  private _renderNotice(): void {
    this._notice.textContent = this._noticeText ?? '';
    this._notice.hidden = !this._noticeText;
    this._notice.classList.toggle('jp-mod-error', this._noticeIsError);
  }

  private _renderList(): void {
    if (this._models.length === 0) {
      const empty = el('li', 'jp-DeploykitPanel-empty');
      empty.textContent = this._errorText
        ? 'The models could not be read (see above). Refresh to try again.'
        : this._lastUpdate
          ? 'No models yet. Push one from a notebook: %load_ext deploykit, then ' +
            '%deploy push model --name NAME --deploy'
          : 'Loading…';
      this._list.replaceChildren(empty);
      return;
    }
    this._list.replaceChildren(...this._models.map(row => this._modelItem(row)));
  }

  private _modelItem(row: IModelRow): HTMLLIElement {
    const item = el('li', 'jp-DeploykitPanel-model');
    item.dataset.model = row.name;
    const top = el('div', 'jp-DeploykitPanel-modelTop');
    const name = button(row.name, 'jp-DeploykitPanel-open jp-mod-minimal', () =>
      this.open(row.name)
    );
    name.title = `Versions and rollback of ${row.name}`;
    name.dataset.focus = `open:${row.name}`;
    top.append(name, badge(row.status, row.status_detail));
    if (row.experiment) {
      const trial = el('span', 'jp-DeploykitBadge jp-mod-experiment', row.experiment);
      trial.title = `A ${row.experiment} runs beside production`;
      top.append(trial);
    }
    const figures = el('div', 'jp-DeploykitPanel-figures');
    figures.append(
      figure('live', 'live', formatVersion(row.live_version)),
      figure('rps', 'req/s', formatRate(row.requests_per_s)),
      figure('p95', 'p95', formatMs(row.p95_ms)),
      figure('drift', 'drift', formatShare(row.drift_share))
    );
    if (row.estimated) {
      const est = figure(
        'estimated',
        `est. ${row.estimated.metric}`,
        formatEstimate(row.estimated)
      );
      est.title = row.estimated.trusted
        ? `Estimated from the model's scores, no labels needed (90% band)`
        : `Untrusted estimate: ${(row.estimated.reasons ?? []).join('; ')}`;
      figures.append(est);
    }
    item.append(top, figures);
    return item;
  }

  private _renderDetail(): void {
    const name = this._selected as string;
    const detail = this._detail;
    const back = button('All models', 'jp-DeploykitPanel-back', () => this.close());
    back.dataset.focus = 'back';
    const title = el('h3', 'jp-DeploykitPanel-detailName', name);
    const row = this._models.find(m => m.name === name);
    if (row) {
      title.append(' ', badge(row.status, row.status_detail));
    }
    if (!detail) {
      this._detailNode.replaceChildren(back, title, el('p', '', 'Loading…'));
      return;
    }
    const live = el(
      'p',
      'jp-DeploykitPanel-live',
      detail.live_version === null
        ? 'No version in production.'
        : `In production: v${detail.live_version}`
    );
    const parts: Node[] = [back, title, live];
    if (this.canAct) {
      const rollback = button(
        this._busy ? 'Rolling back…' : 'Rollback…',
        'jp-DeploykitPanel-rollback jp-mod-warn',
        () => this.rollback()
      );
      rollback.dataset.focus = 'rollback';
      rollback.disabled = this._busy || !detail.can_roll_back;
      rollback.title = detail.can_roll_back
        ? `Move production of ${name} back to an earlier version`
        : 'Nothing to roll back to: production needs a live version and another version.';
      parts.push(rollback);
    }
    const deployButton = (v: IVersionRow) => {
      if (!this.canAct || !this._confirmDeploy) {
        return null;
      }
      const node = button('Deploy', 'jp-DeploykitPanel-deploy jp-mod-minimal', () =>
        this.deploy(v.version)
      );
      node.dataset.focus = `deploy:${v.version}`;
      node.disabled = this._busy;
      node.title = `Put v${v.version} of ${name} in production`;
      return node;
    };
    const cardLink = this._cardUrl
      ? (v: IVersionRow) => {
          const link = el('a', 'jp-DeploykitPanel-card', 'card');
          link.href = (this._cardUrl as (n: string, v: number) => string)(name, v.version);
          link.target = '_blank';
          link.rel = 'noopener';
          link.title = `The model card of ${name} v${v.version}: purpose, data, evaluation, lineage`;
          return link;
        }
      : undefined;
    parts.push(
      el('h4', '', 'Versions'),
      versionsList(detail, deployButton, cardLink),
      el('h4', '', 'Recent moves'),
      eventsList(detail)
    );
    this._detailNode.replaceChildren(...parts);
  }

  private _api: IDeploykitAPI;
  private _confirm: ConfirmRollback;
  private _confirmDeploy: ConfirmDeploy | null;
  private _cardUrl: ((name: string, version: number) => string) | null;
  private _refreshMs: number;
  private _refreshOverride: number | null = null;
  private _status: IStatus | null = null;
  private _configId: string | null = null;
  private _models: IModelRow[] = [];
  private _selected: string | null = null;
  private _detail: IModelDetail | null = null;
  private _errorText: string | null = null;
  private _noticeText: string | null = null;
  private _noticeIsError = false;
  private _lastUpdate: Date | null = null;
  private _pending: Promise<void> | null = null;
  private _busy = false;
  private _timer: ReturnType<typeof setInterval> | null = null;
  private _target = el('div', 'jp-DeploykitPanel-target');
  private _note = el('div', 'jp-DeploykitPanel-note');
  private _readOnly = el('div', 'jp-DeploykitPanel-readonly');
  private _error = el('div', 'jp-DeploykitPanel-error');
  private _notice = el('div', 'jp-DeploykitPanel-notice');
  private _list = el('ul', 'jp-DeploykitPanel-models');
  private _detailNode = el('div', 'jp-DeploykitPanel-detail');
  private _updated = el('div', 'jp-DeploykitPanel-updated');
}

/** "server http://…" or "embedded registry sqlite:///…": where the sidebar reads and acts. */
export function describeTarget(status: IStatus): string {
  return status.mode === 'server'
    ? `server: ${status.target}`
    : `embedded registry: ${status.target}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
