import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  DeploykitRequestError,
  IDeploykitAPI,
  IModelDetail,
  IModelRow,
  IRollbackReply,
  IStatus
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
import { ConfirmDeploy } from './deploy';
import { formatMs, formatRate, formatShare, formatVersion } from './format';
import { ConfirmRollback } from './rollback';

export const PANEL_ID = 'deploykit-sidebar';
const DEFAULT_REFRESH_MS = 5000;

export interface IPanelOptions {
  api: IDeploykitAPI;
  /** The confirm dialog (Lab's showDialog in the app, a stub in tests). */
  confirmRollback: ConfirmRollback;
  /** The deploy dialog; without it, versions have no Deploy button. */
  confirmDeploy?: ConfirmDeploy;
  /** Shows an "Open console" button that calls this. */
  openConsole?: () => void;
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
    this._refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
    this.id = PANEL_ID;
    this.addClass('jp-DeploykitPanel');
    this.title.label = 'Deployments';
    this.title.caption = 'deploykit: models in production';

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

  /**
   * Poll every `seconds` while visible (the user's setting); 0 stops polling; null goes
   * back to what the server extension says.
   */
  setRefreshSeconds(seconds: number | null): void {
    this._refreshOverride = seconds;
    this._startPolling();
  }

  /** The poll period in use, in ms (0: no polling). */
  get refreshMs(): number {
    if (this._refreshOverride !== null) {
      return this._refreshOverride * 1000;
    }
    return this._status ? this._status.refresh_seconds * 1000 : this._refreshMs;
  }

  /** Read the models (and the open model) again; `full` also re-reads the status. */
  refresh(full = false): Promise<void> {
    if (full) {
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
    if (!detail || detail.live_version === null || this._busy) {
      return null;
    }
    const answer = await this._confirm({
      model: detail.name,
      live_version: detail.live_version,
      versions: detail.versions
    });
    if (!answer) {
      return null;
    }
    if (!answer.reason.trim()) {
      this._say('A rollback needs a reason: it goes into the audit log. Nothing was changed.', true);
      return null;
    }
    return this._move(`Rolling back ${detail.name}…`, 'Rollback', () =>
      this._api.rollback(detail.name, {
        reason: answer.reason.trim(),
        to: answer.to,
        if_current: detail.live_version
      })
    );
  }

  /** Run one move of production, say how it went, and show the new state. */
  private async _move(
    doing: string,
    what: string,
    run: () => Promise<IRollbackReply>
  ): Promise<IRollbackReply | null> {
    this._busy = true;
    this._say(doing);
    try {
      const reply = await run();
      this._say(
        `${reply.model}: production moved from ${formatVersion(reply.from_version)} ` +
          `to ${formatVersion(reply.version)}.`
      );
      return reply;
    } catch (reason) {
      this._say(`${what} failed: ${errorText(reason)}`, true);
      return null;
    } finally {
      this._busy = false;
      if (this._pending) {
        await this._pending; // a poll that started before the move would show the old state
      }
      await this.refresh();
    }
  }

  /**
   * Confirm, then point production of the open model at `version` (a version's Deploy
   * button). Nothing happens if the dialog is cancelled or no reason is given.
   */
  async deploy(version: number): Promise<IRollbackReply | null> {
    const detail = this._detail;
    if (!detail || !this._confirmDeploy || this._busy || version === detail.live_version) {
      return null;
    }
    const answer = await this._confirmDeploy({
      model: detail.name,
      version,
      live_version: detail.live_version
    });
    if (!answer) {
      return null;
    }
    if (!answer.reason.trim()) {
      this._say('A deploy needs a reason: it goes into the audit log. Nothing was changed.', true);
      return null;
    }
    return this._move(`Deploying ${detail.name} v${version}…`, 'Deploy', () =>
      this._api.deploy(detail.name, {
        version,
        reason: answer.reason.trim(),
        if_current: detail.live_version
      })
    );
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
      if (!this._status) {
        this._status = await this._api.status();
        this._startPolling();
      }
      this._models = await this._api.models();
      this._errorText = null;
      this._lastUpdate = new Date();
    } catch (reason) {
      this._errorText = errorText(reason);
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
    const ms = this.refreshMs;
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
    this._target.textContent = status
      ? status.mode === 'server'
        ? `Server: ${status.target}`
        : `Embedded registry: ${status.target}`
      : '';
    this._note.textContent = status?.note ?? '';
    this._note.hidden = !status?.note;
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
      empty.textContent = this._lastUpdate
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
    const figures = el('div', 'jp-DeploykitPanel-figures');
    figures.append(
      figure('live', 'live', formatVersion(row.live_version)),
      figure('rps', 'req/s', formatRate(row.requests_per_s)),
      figure('p95', 'p95', formatMs(row.p95_ms)),
      figure('drift', 'drift', formatShare(row.drift_share))
    );
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
    this._detailNode.replaceChildren(
      back,
      title,
      live,
      rollback,
      el('h4', '', 'Versions'),
      versionsList(
        detail,
        this._confirmDeploy ? version => void this.deploy(version) : undefined,
        this._busy
      ),
      el('h4', '', 'Recent moves'),
      eventsList(detail)
    );
  }

  private _api: IDeploykitAPI;
  private _confirm: ConfirmRollback;
  private _confirmDeploy: ConfirmDeploy | null;
  private _refreshMs: number;
  private _refreshOverride: number | null = null;
  private _status: IStatus | null = null;
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
  private _error = el('div', 'jp-DeploykitPanel-error');
  private _notice = el('div', 'jp-DeploykitPanel-notice');
  private _list = el('ul', 'jp-DeploykitPanel-models');
  private _detailNode = el('div', 'jp-DeploykitPanel-detail');
  private _updated = el('div', 'jp-DeploykitPanel-updated');
}
