import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  MainAreaWidget,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IFrame } from '@jupyterlab/ui-components';

import { consoleUrl, makeAPI } from './api';
import { DeployForm, IDeployAnswer, IDeployPrompt } from './deploy';
import { PUSH_SNIPPET, insertSnippet } from './notebook';
import { DeploymentsPanel, PANEL_ID } from './panel';
import { requestAPI } from './request';
import { IRollbackAnswer, IRollbackPrompt, RollbackForm } from './rollback';

export namespace CommandIDs {
  export const openConsole = 'deploykit:open-console';
  export const refresh = 'deploykit:refresh';
  export const insertPush = 'deploykit:insert-push';
  export const showDeployments = 'deploykit:show-deployments';
}

/** Used until the server extension's status says otherwise (c.DeployKitLab.console_url). */
const DEFAULT_CONSOLE_URL = 'voila/render/notebooks/console.ipynb';
const CONSOLE_ID = 'deploykit-console';

async function confirmRollback(prompt: IRollbackPrompt): Promise<IRollbackAnswer | null> {
  const result = await showDialog<IRollbackAnswer>({
    title: `Roll back ${prompt.model}?`,
    body: new RollbackForm(prompt),
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Roll back' })],
    focusNodeSelector: 'textarea'
  });
  return result.button.accept ? result.value : null;
}

async function confirmDeploy(prompt: IDeployPrompt): Promise<IDeployAnswer | null> {
  const result = await showDialog<IDeployAnswer>({
    title: `Deploy ${prompt.model} v${prompt.version}?`,
    body: new DeployForm(prompt),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Deploy' })],
    focusNodeSelector: 'textarea'
  });
  return result.button.accept ? result.value : null;
}

/** The settings schema's id (schema/plugin.json): Settings > deploykit. */
const PLUGIN_ID = 'deploykit-labextension:plugin';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'deploykit: a Deployments sidebar with rollback and deploy, and palette commands',
  autoStart: true,
  optional: [ILabShell, ICommandPalette, ILayoutRestorer, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    if (!labShell) {
      // Voila and other front ends load every installed extension; this one is for Lab.
      return;
    }
    const settings = app.serviceManager.serverSettings;
    const api = makeAPI((endPoint, init) => requestAPI(endPoint, settings, init));
    const panel = new DeploymentsPanel({
      api,
      confirmRollback,
      confirmDeploy,
      openConsole: () => void app.commands.execute(CommandIDs.openConsole)
    });
    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => {
            const seconds = settings.get('refreshSeconds').composite;
            panel.setRefreshSeconds(typeof seconds === 'number' ? seconds : null);
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => console.warn('deploykit: the sidebar settings did not load', reason));
    }
    app.shell.add(panel, 'left', { rank: 700 });
    restorer?.add(panel, PANEL_ID);
    void panel.refresh();

    let consoleTab: MainAreaWidget<IFrame> | null = null;
    app.commands.addCommand(CommandIDs.openConsole, {
      label: 'Open deploy console',
      caption: 'The deploykit console (Voila) in a JupyterLab tab',
      execute: async () => {
        if (consoleTab && !consoleTab.isDisposed) {
          app.shell.activateById(consoleTab.id);
          return;
        }
        const status = panel.status ?? (await api.status().catch(() => null));
        const frame = new IFrame({
          sandbox: ['allow-scripts', 'allow-same-origin', 'allow-forms', 'allow-popups']
        });
        frame.url = consoleUrl(settings.baseUrl, status?.console_url ?? DEFAULT_CONSOLE_URL);
        consoleTab = new MainAreaWidget({ content: frame });
        consoleTab.id = CONSOLE_ID;
        consoleTab.title.label = 'Deploy console';
        consoleTab.title.closable = true;
        app.shell.add(consoleTab, 'main');
        app.shell.activateById(consoleTab.id);
      }
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh deployments',
      caption: 'Read the models and their figures again',
      execute: () => panel.refresh(true)
    });
    app.commands.addCommand(CommandIDs.showDeployments, {
      label: 'Show Deployments sidebar',
      execute: () => app.shell.activateById(PANEL_ID)
    });
    app.commands.addCommand(CommandIDs.insertPush, {
      label: 'Insert %deploy push cell',
      caption: 'A cell below the active one that pushes a model to deploykit',
      execute: () => {
        if (!insertSnippet(app.shell.currentWidget, PUSH_SNIPPET)) {
          Notification.warning('Open a notebook first: the %deploy push cell goes into it.', {
            autoClose: 5000
          });
        }
      }
    });
    for (const command of Object.values(CommandIDs)) {
      palette?.addItem({ command, category: 'deploykit' });
    }
  }
};

export default plugin;
