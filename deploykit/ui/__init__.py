"""The notebook UI kit: what the ``%deploy`` magic, the widgets and the console share.

Modules: ``session`` (where commands go, remembered evaluations), ``actions``
(evaluate, push, status: the steps every front end takes), ``resolve`` (notebook
variables), ``render`` and ``markup`` (HTML and text, pure), ``results`` (shown
answers and IPython display formatters), ``addresses`` (server and console
links), ``feedback``, ``panel`` and ``versions`` (the widgets more than one front
end shows).

The front ends (``magics``, ``widgets``, ``console``) import from here and never
from each other; nothing here imports a front end. This package imports nothing
itself: ``import deploykit.ui.render`` does not load ipywidgets.
"""
