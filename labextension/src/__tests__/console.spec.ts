import { IConsoleAnswer, makeAPI, planConsole } from '../api';
import { headlineMetric, shortEstimator } from '../format';
import { readSettings } from '../settings';

const answer = (over: Partial<IConsoleAnswer>): IConsoleAnswer => ({
  kind: 'jupyter',
  url: 'deploykit/console/',
  reason: null,
  embed: true,
  reachable: true,
  ...over
});

describe('planConsole: never a blank frame', () => {
  it('shows a page of this Jupyter server in a Lab tab', () => {
    expect(planConsole(answer({}), '/user/ana/')).toEqual({
      action: 'tab',
      url: '/user/ana/deploykit/console/'
    });
  });

  it('embeds an external console that allows this origin', () => {
    const plan = planConsole(answer({ kind: 'external', url: 'http://h:8766/console/' }), '/');
    expect(plan).toEqual({ action: 'tab', url: 'http://h:8766/console/' });
  });

  it('opens a console that refuses framing in a new tab, saying why', () => {
    const plan = planConsole(
      answer({
        kind: 'external',
        url: 'http://h:8766/console/',
        embed: false,
        reason: "allows framing only by 'self'"
      }),
      '/'
    );
    expect(plan).toEqual({
      action: 'window',
      url: 'http://h:8766/console/',
      message: "allows framing only by 'self'"
    });
  });

  it('only explains when no console answers or none is installed', () => {
    const down = answer({
      kind: 'external',
      url: 'http://h:8766/console/',
      embed: false,
      reachable: false,
      reason: 'No deploy console answers at http://h:8766/console/'
    });
    expect(planConsole(down, '/')).toEqual({
      action: 'message',
      message: 'No deploy console answers at http://h:8766/console/'
    });
    const none = answer({ kind: 'none', url: null, embed: false, reason: 'Install Voila' });
    expect(planConsole(none, '/')).toEqual({ action: 'message', message: 'Install Voila' });
  });

  it("asks the server about the user's console URL", async () => {
    const asked: string[] = [];
    const api = makeAPI(async <T>(endPoint: string) => {
      asked.push(endPoint);
      return answer({}) as unknown as T;
    });
    await api.console('http://h:8766/console/');
    await api.console('');
    expect(asked).toEqual(['console?url=http%3A%2F%2Fh%3A8766%2Fconsole%2F', 'console']);
  });
});

describe('version rows', () => {
  it('picks the metric that tells versions apart', () => {
    expect(headlineMetric({ accuracy: 0.9123, roc_auc: 0.95 })).toBe('roc_auc 0.95');
    expect(headlineMetric({ zeta: 1, alpha: 2.34567 })).toBe('alpha 2.35');
    expect(headlineMetric({})).toBe('–');
    expect(shortEstimator('sklearn.pipeline.Pipeline')).toBe('Pipeline');
  });
});

describe('settings', () => {
  it('reads the schema values, falling back to the server for anything off', () => {
    expect(readSettings({ refreshSeconds: 30, consoleUrl: ' http://h/ ' })).toEqual({
      refreshSeconds: 30,
      consoleUrl: 'http://h/'
    });
    expect(readSettings({ refreshSeconds: null, consoleUrl: '' })).toEqual({
      refreshSeconds: null,
      consoleUrl: ''
    });
    expect(readSettings({ refreshSeconds: -1 }).refreshSeconds).toBeNull();
  });
});
