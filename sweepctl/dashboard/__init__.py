"""The live dashboard (`sweepctl dashboard`): a web app over every sweep in a store.

:mod:`.watch` reads what the pages show through a backend, :mod:`.pages` writes the HTML,
:mod:`.app` is the Starlette app with its guards, :mod:`.serve` runs it on uvicorn. Starlette,
uvicorn and plotly come with the optional extra ``sweepctl[dashboard]`` and are imported only
when the dashboard starts.
"""

EXTRA = "pip install 'sweepctl[dashboard]'"
