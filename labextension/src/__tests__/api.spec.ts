import { DeploykitRequestError, consoleUrl, makeAPI, readReply } from '../api';
import { reply } from './fakes';

describe('readReply', () => {
  it('returns the JSON of a successful reply', async () => {
    await expect(readReply(reply(200, '{"models": []}'))).resolves.toEqual({ models: [] });
  });

  it("raises the server's message and error type", async () => {
    const failing = readReply(
      reply(409, '{"message": "production moved", "type": "ConflictError"}')
    );
    await expect(failing).rejects.toBeInstanceOf(DeploykitRequestError);
    await expect(failing).rejects.toMatchObject({
      message: 'production moved',
      status: 409,
      type: 'ConflictError'
    });
  });

  it('names the status when the error body is not JSON', async () => {
    await expect(readReply(reply(502, '<html>Bad Gateway</html>', 'Bad Gateway'))).rejects.toThrow(
      'HTTP 502 Bad Gateway: <html>Bad Gateway</html>'
    );
  });

  it('refuses a successful reply that is not JSON', async () => {
    await expect(readReply(reply(200, 'hello'))).rejects.toMatchObject({ type: 'InvalidReply' });
  });
});

describe('makeAPI', () => {
  it('sends each call to its endpoint, names URL-encoded', async () => {
    const seen: Array<[string, RequestInit | undefined]> = [];
    const api = makeAPI(async <T>(endPoint: string, init?: RequestInit) => {
      seen.push([endPoint, init]);
      return (endPoint === 'models' ? { models: [{ name: 'a' }] } : {}) as T;
    });
    await api.status();
    expect(await api.models()).toEqual([{ name: 'a' }]);
    await api.model('fraud v2');
    await api.rollback('fraud v2', { reason: 'why', to: null, if_current: 3 });
    expect(seen.map(([endPoint]) => endPoint)).toEqual([
      'status',
      'models',
      'models/fraud%20v2',
      'models/fraud%20v2/rollback'
    ]);
    const [, init] = seen[3];
    expect(init?.method).toBe('POST');
    expect(JSON.parse(String(init?.body))).toEqual({ reason: 'why', to: null, if_current: 3 });
  });
});

describe('consoleUrl', () => {
  it('puts a path under the base URL', () => {
    expect(consoleUrl('/user/ana/', 'voila/render/notebooks/console.ipynb')).toBe(
      '/user/ana/voila/render/notebooks/console.ipynb'
    );
    expect(consoleUrl('/lab', '/voila/render/x.ipynb')).toBe('/lab/voila/render/x.ipynb');
  });

  it('keeps an absolute URL', () => {
    expect(consoleUrl('/', 'https://console.example.org/')).toBe('https://console.example.org/');
  });
});
