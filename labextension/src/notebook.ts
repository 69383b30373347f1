/** Putting a `%deploy push` cell into the user's notebook, without importing @jupyterlab/notebook. */

export const PUSH_SNIPPET = [
  '%load_ext deploykit',
  '# model: a fitted estimator; X_train: its training rows (signature and drift reference)',
  '%deploy push model --name my-model --data X_train --deploy'
].join('\n');

/** The part of a NotebookPanel this module touches. */
export interface INotebookLike {
  content: {
    activeCellIndex: number;
    model: {
      sharedModel: {
        insertCell(index: number, cell: { cell_type: 'code'; source: string }): unknown;
      };
    } | null;
  };
}

/** Whether `widget` looks like a notebook panel (the shell's current widget may be anything). */
export function isNotebook(widget: unknown): widget is INotebookLike {
  const content = (widget as { content?: { model?: unknown } } | null)?.content;
  const shared = (content?.model as { sharedModel?: { insertCell?: unknown } } | null)
    ?.sharedModel;
  return typeof shared?.insertCell === 'function';
}

/**
 * Insert a code cell holding `source` below the active cell and make it active.
 * False (nothing done) when `widget` is not a notebook.
 */
export function insertSnippet(widget: unknown, source: string): boolean {
  if (!isNotebook(widget) || !widget.content.model) {
    return false;
  }
  const notebook = widget.content;
  const index = Math.max(notebook.activeCellIndex, -1) + 1;
  notebook.model!.sharedModel.insertCell(index, { cell_type: 'code', source });
  notebook.activeCellIndex = index;
  return true;
}
