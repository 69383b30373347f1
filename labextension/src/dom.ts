/** DOM building blocks of the sidebar: plain elements, no framework. */
import { IModelDetail, IVersionRow } from './api';
import {
  MISSING,
  badgeModifier,
  formatMetrics,
  formatMove,
  formatWhen,
  headlineMetric,
  shortEstimator
} from './format';

/**
 * One row per version: name and aliases, then what tells versions apart (estimator,
 * headline metric, description), then when and who. `deployButton` adds a Deploy
 * button to the versions that are not live (none for a read-only sidebar).
 */
export function versionsList(
  detail: IModelDetail,
  deployButton?: (v: IVersionRow) => HTMLButtonElement | null,
  cardLink?: (v: IVersionRow) => HTMLAnchorElement
): HTMLUListElement {
  const list = el('ul', 'jp-DeploykitPanel-versions');
  for (const v of detail.versions) {
    const item = el('li');
    item.dataset.version = String(v.version);
    item.classList.toggle('jp-mod-live', v.version === detail.live_version);
    const top = el('div', 'jp-DeploykitPanel-versionTop');
    top.append(el('span', 'jp-DeploykitPanel-versionName', `v${v.version}`));
    for (const alias of v.aliases) {
      top.append(' ', el('span', 'jp-DeploykitPanel-alias', alias));
    }
    const what = el(
      'div',
      'jp-DeploykitPanel-versionWhat',
      `${shortEstimator(v.estimator)} · ${headlineMetric(v.metrics)}`
    );
    what.title = `${v.estimator}\n${formatMetrics(v.metrics, 20)}`;
    const parts: Node[] = [top, what];
    if (v.description) {
      parts.push(el('div', 'jp-DeploykitPanel-versionDescription', v.description));
    }
    const meta = [formatWhen(v.created_at), v.author];
    parts.push(el('div', 'jp-DeploykitPanel-versionMeta', meta.join(' · ')));
    if (cardLink) {
      top.append(' ', cardLink(v));
    }
    const deploy = v.version === detail.live_version ? null : deployButton?.(v);
    if (deploy) {
      top.append(deploy);
    }
    item.append(...parts);
    list.append(item);
  }
  return list;
}

export function eventsList(detail: IModelDetail): HTMLUListElement {
  const list = el('ul', 'jp-DeploykitPanel-events');
  if (detail.events.length === 0) {
    list.append(el('li', '', MISSING));
  }
  for (const e of detail.events) {
    const item = el('li');
    item.append(el('span', 'jp-DeploykitPanel-when', formatWhen(e.at)), ' ', formatMove(e));
    list.append(item);
  }
  return list;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export function button(label: string, className: string, onClick: () => unknown): HTMLButtonElement {
  const node = el('button', `jp-Button jp-mod-styled ${className}`, label);
  node.type = 'button';
  node.addEventListener('click', () => void onClick());
  return node;
}

export function badge(status: string, detail?: string | null): HTMLSpanElement {
  const node = el('span', `jp-DeploykitBadge ${badgeModifier(status)}`, status);
  if (detail) {
    node.title = detail;
  }
  return node;
}

export function figure(field: string, label: string, value: string): HTMLSpanElement {
  const node = el('span', 'jp-DeploykitPanel-figure');
  node.dataset.field = field;
  node.append(el('span', 'jp-DeploykitPanel-label', label), ' ', el('span', '', value));
  return node;
}

export function errorText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/** Re-rendering replaces the buttons; keep keyboard focus on the same one. */
export function focusKey(root: HTMLElement): string | null {
  const active = document.activeElement as HTMLElement | null;
  return active && root.contains(active) ? (active.dataset.focus ?? null) : null;
}

export function restoreFocus(root: HTMLElement, key: string | null): void {
  if (key) {
    const nodes = Array.from(root.querySelectorAll<HTMLElement>('[data-focus]'));
    nodes.find(node => node.dataset.focus === key)?.focus();
  }
}
