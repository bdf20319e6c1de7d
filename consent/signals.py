from django.dispatch import Signal

# Sent after a withdrawal (or refusal) commits, with `subject_id`, `purpose_keys` and
# `event_ids`. Erasure and receipts subscribe; consent knows nothing of them.
consent_withdrawn = Signal()
