/** The user's settings of the plugin (schema/plugin.json), read without Lab imports. */

export interface IDeploykitSettings {
  /** Seconds between refreshes; null: the Jupyter server's c.DeployKitLab.refresh_seconds. */
  refreshSeconds: number | null;
  /** The console to open; '': the Jupyter server's c.DeployKitLab.console_url. */
  consoleUrl: string;
}

/** Values from the setting registry's composite, checked (a hand-edited JSON may be off). */
export function readSettings(composite: { [key: string]: unknown }): IDeploykitSettings {
  const refresh = composite.refreshSeconds;
  const url = composite.consoleUrl;
  return {
    refreshSeconds:
      typeof refresh === 'number' && Number.isFinite(refresh) && refresh >= 0 ? refresh : null,
    consoleUrl: typeof url === 'string' ? url.trim() : ''
  };
}
