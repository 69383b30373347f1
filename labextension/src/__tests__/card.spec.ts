import { DeploymentsPanel } from '../panel';
import { FakeAPI } from './fakes';

function panelWithCards(cardUrl?: (name: string, version: number) => string) {
  const api = new FakeAPI();
  const panel = new DeploymentsPanel({
    api,
    refreshMs: 0,
    confirmRollback: async () => null,
    cardUrl
  });
  return { api, panel };
}

describe('model card links', () => {
  it('links every version to its card, opened in a new browser tab', async () => {
    const { panel } = panelWithCards(
      (name, v) => `/jupyter/deploykit/api/models/${encodeURIComponent(name)}/card?version=${v}`
    );
    await panel.refresh();
    await panel.open('churn');
    const links = Array.from(
      panel.node.querySelectorAll<HTMLAnchorElement>(
        '.jp-DeploykitPanel-versions a.jp-DeploykitPanel-card'
      )
    );
    expect(links.map(a => a.getAttribute('href'))).toEqual([
      '/jupyter/deploykit/api/models/churn/card?version=2',
      '/jupyter/deploykit/api/models/churn/card?version=1'
    ]);
    expect(links.every(a => a.target === '_blank' && a.rel === 'noopener')).toBe(true);
    expect(links[0].textContent).toBe('card');
  });

  it('shows no link when the app gives no card address', async () => {
    const { panel } = panelWithCards();
    await panel.refresh();
    await panel.open('churn');
    expect(panel.node.querySelector('.jp-DeploykitPanel-card')).toBeNull();
  });
});
