import { Widget } from '@lumino/widgets';

/** What the deploy dialog is asked about: one version of a model. */
export interface IDeployPrompt {
  model: string;
  version: number;
  live_version: number | null;
}

/** Why (the reason goes to the audit log). */
export interface IDeployAnswer {
  reason: string;
}

/** Asks the user to confirm a deploy; null when cancelled. */
export type ConfirmDeploy = (prompt: IDeployPrompt) => Promise<IDeployAnswer | null>;

/** The dialog's question: which way production moves, and why. */
export function deployQuestion(prompt: IDeployPrompt): string {
  const now =
    prompt.live_version === null ? 'nothing is in production yet' : `it serves v${prompt.live_version}`;
  return (
    `Point production of ${prompt.model} at version ${prompt.version}? ` +
    `Now ${now}; every replica switches within a second.`
  );
}

/** The body of the deploy dialog: the question and a reason (Lab's showDialog reads getValue). */
export class DeployForm extends Widget {
  readonly reason: HTMLTextAreaElement;

  constructor(prompt: IDeployPrompt) {
    super();
    this.addClass('jp-DeploykitDeployForm');
    const intro = document.createElement('p');
    intro.textContent = deployQuestion(prompt);
    this.reason = document.createElement('textarea');
    this.reason.className = 'jp-mod-styled';
    this.reason.rows = 3;
    this.reason.placeholder = 'Why? Recorded in the audit log (required)';
    const label = document.createElement('label');
    const span = document.createElement('span');
    span.textContent = 'Reason';
    label.append(span, this.reason);
    this.node.append(intro, label);
  }

  getValue(): IDeployAnswer {
    return { reason: this.reason.value.trim() };
  }
}
