import { Widget } from '@lumino/widgets';

import { IVersionRow } from './api';
import { formatWhen, headlineMetric, shortEstimator } from './format';

/** What the rollback dialog is asked about. */
export interface IRollbackPrompt {
  model: string;
  live_version: number;
  versions: IVersionRow[];
  /** The versions production may go back to, newest first (from the server). */
  targets?: number[];
  /** The version production served before the live one: selected first. */
  previous?: number | null;
  /** What the user had entered when the dialog is shown again after a refusal. */
  answer?: IRollbackAnswer;
  /** Why the previous answer was refused, shown above the fields. */
  error?: string;
}

/** What the user chose: a target version and why. */
export interface IRollbackAnswer {
  to: number | null;
  reason: string;
}

/** Asks the user to confirm a rollback; null when cancelled. */
export type ConfirmRollback = (prompt: IRollbackPrompt) => Promise<IRollbackAnswer | null>;

/** What the deploy dialog is asked about. */
export interface IDeployPrompt {
  model: string;
  version: IVersionRow;
  live_version: number | null;
}

/** Asks the user to confirm a deploy: the reason (may be empty), null when cancelled. */
export type ConfirmDeploy = (prompt: IDeployPrompt) => Promise<{ reason: string } | null>;

/** The versions a rollback may choose, newest first: the server's list, else all but live. */
export function rollbackTargets(prompt: IRollbackPrompt): number[] {
  if (prompt.targets) {
    return prompt.targets;
  }
  return prompt.versions.map(v => v.version).filter(v => v !== prompt.live_version);
}

function versionLabel(v: IVersionRow | undefined, n: number): string {
  if (!v) {
    return `version ${n}`;
  }
  return (
    `version ${n}: ${shortEstimator(v.estimator)}, ${headlineMetric(v.metrics)} ` +
    `(${formatWhen(v.created_at)}, ${v.author})`
  );
}

/**
 * The body of the rollback dialog: a target version (only real ones) and a reason.
 * It is a plain widget with getValue(), which is what Lab's showDialog reads.
 */
export class RollbackForm extends Widget {
  readonly target: HTMLSelectElement;
  readonly reason: HTMLTextAreaElement;

  constructor(prompt: IRollbackPrompt) {
    super();
    this.addClass('jp-DeploykitRollbackForm');
    const intro = document.createElement('p');
    intro.textContent =
      `Production of ${prompt.model} serves version ${prompt.live_version}. ` +
      'Every replica switches within a second.';

    this.target = document.createElement('select');
    this.target.className = 'jp-mod-styled';
    const byNumber = new Map(prompt.versions.map(v => [v.version, v]));
    for (const n of rollbackTargets(prompt)) {
      const label =
        versionLabel(byNumber.get(n), n) + (n === prompt.previous ? ' (served before)' : '');
      this.target.appendChild(new Option(label, String(n)));
    }
    const chosen = prompt.answer?.to ?? prompt.previous ?? null;
    if (chosen !== null && byNumber.has(chosen)) {
      this.target.value = String(chosen);
    }

    this.reason = document.createElement('textarea');
    this.reason.className = 'jp-mod-styled';
    this.reason.rows = 3;
    this.reason.placeholder = 'Why? Recorded in the audit log (required)';
    this.reason.value = prompt.answer?.reason ?? '';

    const parts: HTMLElement[] = [intro];
    if (prompt.error) {
      const error = document.createElement('p');
      error.className = 'jp-DeploykitRollbackForm-error';
      error.setAttribute('role', 'alert');
      error.textContent = prompt.error;
      parts.push(error);
    }
    parts.push(labelled('Roll back to', this.target), labelled('Reason', this.reason));
    this.node.append(...parts);
  }

  getValue(): IRollbackAnswer {
    const to = this.target.value === '' ? null : Number(this.target.value);
    return { to, reason: this.reason.value.trim() };
  }
}

/** The body of the deploy dialog: what goes live instead of what, and an optional reason. */
export class DeployForm extends Widget {
  readonly reason: HTMLTextAreaElement;

  constructor(prompt: IDeployPrompt) {
    super();
    this.addClass('jp-DeploykitRollbackForm');
    const intro = document.createElement('p');
    const now =
      prompt.live_version === null
        ? 'Nothing is in production yet.'
        : `Production of ${prompt.model} serves version ${prompt.live_version}.`;
    intro.textContent =
      `${now} Deploy ${versionLabel(prompt.version, prompt.version.version)}? ` +
      'Every replica switches within a second.';
    this.reason = document.createElement('textarea');
    this.reason.className = 'jp-mod-styled';
    this.reason.rows = 2;
    this.reason.placeholder = 'Why? Recorded in the audit log';
    this.node.append(intro, labelled('Reason', this.reason));
  }

  getValue(): { reason: string } {
    return { reason: this.reason.value.trim() };
  }
}

function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const label = document.createElement('label');
  const span = document.createElement('span');
  span.textContent = text;
  label.append(span, control);
  return label;
}
