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
import { URLExt } from '@jupyterlab/coreutils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IFrame, LabIcon } from '@jupyterlab/ui-components';

import { makeAPI, planConsole } from './api';
import { PUSH_SNIPPET, insertSnippet } from './notebook';
import { DeploymentsPanel, PANEL_ID } from './panel';
import { requestAPI } from './request';
import {
  DeployForm,
  IDeployPrompt,
  IRollbackAnswer,
  IRollbackPrompt,
  RollbackForm
} from './rollback';
import { readSettings } from './settings';

export namespace CommandIDs {
  export const openConsole = 'deploykit:open-console';
  export const refresh = 'deploykit:refresh';
  export const insertPush = 'deploykit:insert-push';
  export const showDeployments = 'deploykit:show-deployments';
}

const PLUGIN_ID = 'deploykit-labextension:plugin';
const CONSOLE_ID = 'deploykit-console';

/** The sidebar's tab: a rocket on a stand (models going to production). */
export const deploykitIcon = new LabIcon({
  name: 'deploykit:rocket',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M12 2c3 2 4.6 5.4 4.6 9.2v3.3l2.2 2.6v2.4l-3.9-1.6H9.1l-3.9 1.6v-2.4l2.2-2.6' +
    'v-3.3C7.4 7.4 9 4 12 2zm0 5.2a1.8 1.8 0 1 0 0 3.6 1.8 1.8 0 0 0 0-3.6z"/>' +
    '<path d="M10.2 19.6h3.6L12 22.5z"/></g></svg>'
});

async function confirmRollback(prompt: IRollbackPrompt): Promise<IRollbackAnswer | null> {
  const result = await showDialog<IRollbackAnswer>({
    title: `Roll back ${prompt.model}?`,
    body: new RollbackForm(prompt),
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Roll back' })],
    focusNodeSelector: 'textarea'
  });
  return result.button.accept ? result.value : null;
}

async function confirmDeploy(prompt: IDeployPrompt): Promise<{ reason: string } | null> {
  const result = await showDialog<{ reason: string }>({
    title: `Deploy ${prompt.model} v${prompt.version.version}?`,
    body: new DeployForm(prompt),
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Deploy' })],
    focusNodeSelector: 'textarea'
  });
  return result.button.accept ? result.value : null;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'deploykit: a Deployments sidebar with deploy and rollback, and palette commands',
  autoStart: true,
  optional: [ILabShell, ICommandPalette, ILayoutRestorer, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    registry: ISettingRegistry | null
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
      openConsole: () => void app.commands.execute(CommandIDs.openConsole),
      cardUrl: (name, version) =>
        URLExt.join(
          settings.baseUrl,
          'deploykit/api/models',
          encodeURIComponent(name),
          'card'
        ) + `?version=${version}`
    });
    panel.title.icon = deploykitIcon;
    app.shell.add(panel, 'left', { rank: 700 });
    restorer?.add(panel, PANEL_ID);
    void panel.refresh();

    // The user's settings (Settings Editor → deploykit) override the server's defaults.
    let consoleOverride = '';
    if (registry) {
      void registry
        .load(PLUGIN_ID)
        .then(loaded => {
          const apply = () => {
            const chosen = readSettings(loaded.composite);
            consoleOverride = chosen.consoleUrl;
            panel.setRefreshSeconds(chosen.refreshSeconds);
          };
          apply();
          loaded.changed.connect(apply);
        })
        .catch(reason => console.warn('deploykit: settings not loaded', reason));
    }

    let consoleTab: MainAreaWidget<IFrame> | null = null;
    app.commands.addCommand(CommandIDs.openConsole, {
      label: 'Open deploy console',
      caption: 'The deploykit console in a JupyterLab tab (or a browser tab, saying why)',
      execute: async () => {
        if (consoleTab && !consoleTab.isDisposed) {
          app.shell.activateById(consoleTab.id);
          return;
        }
        let plan;
        try {
          plan = planConsole(await api.console(consoleOverride), settings.baseUrl);
        } catch (reason) {
          Notification.error(`The deploy console cannot be opened: ${String(reason)}`);
          return;
        }
        if (plan.action === 'message') {
          Notification.warning(plan.message, { autoClose: false });
          return;
        }
        if (plan.action === 'window') {
          window.open(plan.url, '_blank', 'noopener');
          Notification.info(plan.message, { autoClose: 15000 });
          return;
        }
        const frame = new IFrame({
          sandbox: ['allow-scripts', 'allow-same-origin', 'allow-forms', 'allow-popups']
        });
        frame.url = plan.url;
        consoleTab = new MainAreaWidget({ content: frame });
        consoleTab.id = CONSOLE_ID;
        consoleTab.title.label = 'Deploy console';
        consoleTab.title.icon = deploykitIcon;
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
