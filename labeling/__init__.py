"""Weak supervision for frames and stance, with no knowledge of files, runs or models.

Modules, one job each:

- ``codebook``: the frame codebook and stance targets, loaded and validated from YAML.
- ``functions``: the labeling functions (LFs), defined apart from their application.
- ``weak``: ``WeakLabeler``, which applies the LFs to documents, fits a label model on
  their votes, and builds label rows with readable evidence.
- ``stream``: the two-pass engine that applies them over a corpus a chunk at a time.
- ``label_model``: the label models behind one interface (majority vote, Dawid-Skene),
  the one ``ABSTAIN`` vote, and the rule that chooses between models from their scores.
- ``gold``: human gold labels: the JSONL format, splits, validation, gold winning.
- ``agreement``: agreement between annotators (kappas, alpha) and their disagreements.
- ``studio``: Label Studio I/O: interface config, tasks with pre-annotations, exports.
- ``analysis``: LF coverage, overlaps, conflicts and accuracy on gold.
- ``schema``: the arrow schema of the label/prediction table.
- ``text``: joining a title and body the same way everywhere.
"""
