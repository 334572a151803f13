"""The pipelines layer: the stages of mediaframe, each a module with one library entry
point that reads its inputs, runs the ``labeling``/``models`` code and logs to MLflow.

Stages (``mediaframe <stage>``):

- ``ingest``: raw files and folders -> de-duplicated ``documents.parquet``.
- ``label``: weak labels and the label model, gold merged in -> ``labels.parquet``.
- ``train``: one task with one model family -> a bundle and a tracked run;
  ``evaluate`` holds its gold-test tables, plots and HTML page.
- ``publish``: the frames and stance runs as one registered pyfunc, through the gate.
- ``score``: batch scoring with a registered model into resumable shards; ``shards`` is
  the chunk loop both engines share, ``spark`` the Spark engine, ``workers`` the local
  engine's worker processes.
- ``report``: frame shares and stance per outlet and period (``report_plots``,
  ``report_html`` draw and lay it out).
- ``run``: the whole flow under one parent run.

Infrastructure:

- ``cli``: the ``mediaframe`` command, a loop over ``stages`` (one row per stage) plus the
  ``mediaframe.commands`` plugins.
- ``config``: the stage configs, validated before any work.
- ``tracking``: the MLflow store, experiments, tags and stage runs.
- ``inputs``: the one lister of input files; ``readers``: row-level readers that report
  bad rows; ``atomic``: writes that never leave half a file.
- ``plots``: headless matplotlib and PNG bytes for every figure.
- ``progress``: progress bars that can be turned off; ``system``: machine facts and peak
  memory stamped beside every benchmark figure.
"""
