import { PUSH_SNIPPET, insertSnippet, isNotebook } from '../notebook';

function fakeNotebook(active: number) {
  const cells: Array<{ cell_type: string; source: string }> = [
    { cell_type: 'code', source: 'a' },
    { cell_type: 'code', source: 'b' }
  ];
  const content = {
    activeCellIndex: active,
    model: {
      sharedModel: {
        insertCell: (index: number, cell: { cell_type: 'code'; source: string }) =>
          cells.splice(index, 0, cell)
      }
    }
  };
  return { widget: { content }, cells, content };
}

describe('insertSnippet', () => {
  it('adds the cell below the active one and selects it', () => {
    const { widget, cells, content } = fakeNotebook(0);
    expect(insertSnippet(widget, PUSH_SNIPPET)).toBe(true);
    expect(cells.map(c => c.source)).toEqual(['a', PUSH_SNIPPET, 'b']);
    expect(content.activeCellIndex).toBe(1);
  });

  it('does nothing outside a notebook', () => {
    expect(isNotebook({ content: {} })).toBe(false);
    expect(insertSnippet(null, PUSH_SNIPPET)).toBe(false);
    expect(insertSnippet({ content: { model: null } }, PUSH_SNIPPET)).toBe(false);
  });

  it('pushes with the magic', () => {
    expect(PUSH_SNIPPET).toContain('%load_ext deploykit');
    expect(PUSH_SNIPPET).toMatch(/^%deploy push model --name \S+ --data X_train/m);
  });
});
