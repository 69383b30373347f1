// jsdom has no DragEvent; @lumino/dragdrop (pulled in by @lumino/widgets) needs one at import time.
if (typeof globalThis.DragEvent === 'undefined') {
  globalThis.DragEvent = class DragEvent extends MouseEvent {};
}
