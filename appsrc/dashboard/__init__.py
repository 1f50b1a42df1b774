"""The admin dashboard (Dash Pages mounted on the Flask app).

Conventions every page follows:
- one module per page under `pages/`: `dash.register_page(__name__, path=..., name=...,
  access="admin"|"member", nav=True|False, order=N)`, a `layout(**kwargs)` function and that
  page's callbacks, component ids prefixed with the page's namespace (`activity-...`);
- pages are admin-only unless registered with `access="member"`; every registered page with a
  plain path and without `nav=False` appears in the navigation (to the users who may open it),
  so a new page such as `pages/digest.py` shows up by existing;
- layouts hold no data: Dash sends one validation copy of every layout to every signed-in user,
  so data arrives through callbacks, which the web layer checks (admin-only unless the function
  is marked `member_callback`);
- callbacks call the data layer (`store.queries`, `crm.*`) and hold no SQL of their own.
"""
