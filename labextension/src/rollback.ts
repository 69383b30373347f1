import { Widget } from '@lumino/widgets';

import { IVersionRow } from './api';
import { formatWhen } from './format';

/** What the confirm dialog is asked about. */
export interface IRollbackPrompt {
  model: string;
  live_version: number;
  versions: IVersionRow[];
}

/** What the user chose: a target (null: the previous production version) and why. */
export interface IRollbackAnswer {
  to: number | null;
  reason: string;
}

/** Asks the user to confirm a rollback; null when cancelled. */
export type ConfirmRollback = (prompt: IRollbackPrompt) => Promise<IRollbackAnswer | null>;

/**
 * The body of the rollback dialog: a target version and a reason.
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
    this.target.appendChild(
      new Option('the version it served before (default)', '')
    );
    for (const v of prompt.versions) {
      if (v.version !== prompt.live_version) {
        const label = `version ${v.version} (${formatWhen(v.created_at)}, ${v.author})`;
        this.target.appendChild(new Option(label, String(v.version)));
      }
    }

    this.reason = document.createElement('textarea');
    this.reason.className = 'jp-mod-styled';
    this.reason.rows = 3;
    this.reason.placeholder = 'Why? Recorded in the audit log (required)';

    this.node.append(
      intro,
      labelled('Roll back to', this.target),
      labelled('Reason', this.reason)
    );
  }

  getValue(): IRollbackAnswer {
    const to = this.target.value === '' ? null : Number(this.target.value);
    return { to, reason: this.reason.value.trim() };
  }
}

function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const label = document.createElement('label');
  const span = document.createElement('span');
  span.textContent = text;
  label.append(span, control);
  return label;
}
