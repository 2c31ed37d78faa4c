"""A whole output folder: the batch tables ``index.csv`` and ``failed.csv`` (``index``) and the page
``report.html`` (``report``). Never imports torch."""
