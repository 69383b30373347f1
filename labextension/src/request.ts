import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { DeploykitRequestError, readReply } from './api';

/**
 * Call `<baseUrl>/deploykit/api/<endPoint>` with Jupyter's credentials (token,
 * XSRF cookie). Raises a DeploykitRequestError carrying the server's message.
 */
export async function requestAPI<T>(
  endPoint: string,
  settings: ServerConnection.ISettings,
  init: RequestInit = {}
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'deploykit', 'api', endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new DeploykitRequestError(
      `The Jupyter server could not be reached (${String(error)}).`,
      0,
      'NetworkError'
    );
  }
  return readReply<T>(response);
}
