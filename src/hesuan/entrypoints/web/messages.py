"""Labels the pages show for codes that come from the services: roles, status colours, recall
and exemption reasons, result verdicts, the lab stage's plate statuses, well calls, reasons and
decisions, and error codes in plain words (``ERRORS``, kept in ``error_words``). Marked with
``N_`` for the catalogs and translated where they are shown; an unknown code falls back to the
service's own message.

Imports: ``hesuan.entrypoints.web.i18n``, ``hesuan.entrypoints.web.error_words``.
"""

from __future__ import annotations

from hesuan.entrypoints.web.error_words import ERRORS
from hesuan.entrypoints.web.i18n import N_

__all__ = ["ALERT_OUTCOMES", "ALERT_RULES", "CHECKPOINT_DEVICE", "CHECKPOINT_KINDS", "COLOURS",
           "CORRECTION_COUNTS", "CORRECTION_ERRORS", "CORRECTION_STATUS", "DECISIONS", "ERRORS",
           "EXEMPTION_REASONS", "GROUPS", "INTEGRITY_LISTS", "MOVEMENT", "PASS_FAILURES",
           "PLATE_STATUS", "QUEUE_STATES", "RECALL_REASONS", "RECALL_STATES", "REJECTION_REASONS",
           "REJECTION_STAGES", "RELEASE_BARS", "RESULTS", "ROLES", "ROSTER_OUTCOMES",
           "SAMPLING_MODES", "SCOPE_KINDS", "SITE_KINDS", "SITE_STATUS", "STAFF_ROLES", "STAGES",
           "TUBE_STATES", "VENUE_CHECKS", "VERDICTS", "WELL_KINDS", "WELL_OUTCOMES",
           "WELL_REASONS", "ZONE_KINDS"]

SITE_KINDS = {
    "fixed": N_("Fixed site"),
    "temporary": N_("Temporary site"),
    "first_landing": N_("First-landing checkpoint"),
    "hospital": N_("Hospital"),
    "door_to_door": N_("Door-to-door team"),
}

GROUPS = {
    "medical": N_("Medical staff"),
    "port_transport": N_("Port and transport workers"),
    "courier": N_("Couriers and delivery riders"),
    "teacher_student": N_("Teachers and students"),
    "elderly_home": N_("Elderly people at home"),
}

SCOPE_KINDS = {
    "region": N_("Region"),
    "group": N_("Group"),
}

RECALL_STATES = {
    "open": N_("Waiting for the re-test"),
    "resolved": N_("Re-tested"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}

ROLES = {
    "admin": N_("Administrator"),
    "health_officer": N_("Health officer"),
    "site_lead": N_("Site lead"),
    "sampler": N_("Sampler"),
    "courier": N_("Courier"),
    "lab": N_("Laboratory"),
    "grid_worker": N_("Grid worker"),
    "venue": N_("Venue"),
    "resident": N_("Resident"),
    "province": N_("Province (daily aggregates)"),
}

COLOURS = {
    "green": N_("Green"),
    "yellow": N_("Yellow"),
    "popup": N_("Pop-up (stop and check)"),
    "red": N_("Red"),
}

RESULTS = {
    "negative": N_("Negative"),
    "positive": N_("Positive"),
    "invalid": N_("Invalid"),
    None: N_("Waiting for result"),
}

RECALL_REASONS = {
    "pool_positive": N_("Pooled tube needs a re-test"),
    "tube_invalid": N_("Tube could not be tested"),
    "tube_rejected": N_("The lab could not test the sample"),
    "result_cancelled": N_("The lab withdrew the result"),
}

#: Why a lab rejected a specimen (``hesuan.domain.specimens.RejectionCode``): the same words
#: as the SMS (``RejectionCode.words``), which ``tests/unit/test_specimens.py`` holds together.
REJECTION_REASONS = {
    "leaked": N_("The tube leaked"),
    "insufficient_volume": N_("There was too little sample in the tube"),
    "label_unreadable": N_("The tube's label could not be read"),
    "wrong_container": N_("The sample was in the wrong kind of tube"),
    "over_capacity": N_("More people were pooled in the tube than it may hold"),
    "transport_time_exceeded": N_("The sample took too long to reach the lab"),
    "cold_chain_broken": N_("The sample was not kept cold enough on its way"),
    "contaminated": N_("The sample was contaminated"),
    "no_swab": N_("There was no swab in the tube"),
    "sample_exhausted": N_("None of the sample was left to test again"),
    "missing": N_("The tube did not reach the lab in its box"),
    "other": N_("The sample could not be used"),
}

REJECTION_STAGES = {
    "receipt": N_("At receipt"),
    "bench": N_("At the bench"),
}

EXEMPTION_REASONS = {
    "infant": N_("Infant"),
    "bedridden": N_("Bedridden (door-to-door)"),
    "away": N_("Away from the city"),
    "in_hospital": N_("In hospital"),
    "other": N_("Other"),
}

VERDICTS = {
    "new": N_("New result"),
    "accepted": N_("Recorded"),
    "duplicate": N_("Same as recorded (no change)"),
    "correction": N_("Correction: a second laboratory user approves it"),
    "correction_requested": N_("Correction requested: a second laboratory user of the lab "
                               "approves it before anything changes"),
    "rejected": N_("Rejected"),
}

PASS_FAILURES = {
    "malformed": N_("Not a status pass (unreadable)."),
    "unknown_key": N_("Signed with a key this platform does not trust."),
    "bad_signature": N_("Forged or altered: the signature does not match."),
    "key_not_valid": N_("The signing key was not valid when the pass was issued."),
    "not_yet_valid": N_("Issued in the future: check the device's clock."),
    "expired": N_("Expired: ask for a fresh pass."),
    "revoked": N_("Revoked: a later result overtook it."),
}

VENUE_CHECKS = {
    "temperature_ok": N_("Temperature"),
    "code_ok": N_("Status code"),
    "certificate_ok": N_("Certificate"),
    "mask_ok": N_("Mask"),
}

TUBE_STATES = {
    "open": N_("Not yet sealed"),
    "sealed": N_("Sealed"),
    "boxed": N_("In a box"),
    "received": N_("At the laboratory"),
    "resulted": N_("Resulted"),
}

SITE_STATUS = {
    "open": N_("Open"),
    "closed": N_("Closed"),
    "suspended": N_("Suspended"),
}

ZONE_KINDS = {
    "sealed": N_("Sealed zone (封控区)"),
    "controlled": N_("Controlled zone (管控区)"),
    "precaution": N_("Precaution zone (防范区)"),
}

MOVEMENT = {
    "stay_home": N_("Stay home"),
    "stay_in_compound": N_("Stay in the compound"),
    "no_gathering": N_("No gatherings"),
}

SAMPLING_MODES = {
    "door_to_door": N_("Door-to-door sampling"),
    "household_pool": N_("Door-to-door, one tube per household"),
    "single_tube": N_("Single tubes"),
    "at_site": N_("At sampling sites"),
}

#: The role a checkpoint's device shows in the header (its account is of the role ``venue``).
CHECKPOINT_DEVICE = N_("Checkpoint")

CHECKPOINT_KINDS = {
    "station": N_("Railway station"),
    "airport": N_("Airport"),
    "highway": N_("Highway exit"),
    "compound_gate": N_("Compound gate"),
}

STAFF_ROLES = {
    "swabber": N_("Swabber"),
    "registrar": N_("Registrar"),
    "team_lead": N_("Team lead"),
    "support": N_("Support"),
}

ROSTER_OUTCOMES = {
    "reached": N_("Reached"),
    "refused": N_("Refused"),
    "away": N_("Away"),
    "needs_door_to_door": N_("Needs door-to-door"),
}

ALERT_RULES = {
    "zone_exit": N_("Left a sealed or controlled zone"),
    "red_or_retest": N_("Red or pending re-test, scanned out and about"),
    "arrival_follow_up": N_("Arrival missed the follow-up test"),
}

ALERT_OUTCOMES = {
    "returned_home": N_("Sent home"),
    "isolated": N_("Taken to isolation"),
    "tested": N_("Tested"),
    "false_alarm": N_("False alarm"),
    "no_action": N_("No action needed"),
}

STAGES = {
    "tube_sealed": N_("Tube sealed"),
    "box_sealed": N_("Box sealed"),
    "handed_over": N_("Handed to courier"),
    "received": N_("Received by lab"),
    "resulted": N_("Resulted"),
    "notified": N_("Person notified"),
}

# -- the lab stage: plates, runs, release --------------------------------------------------------

PLATE_STATUS = {
    "building": N_("Being built"),
    "ready": N_("Ready for the instrument"),
    "imported": N_("Waiting for release"),
    "released": N_("Released"),
}

WELL_KINDS = {
    "tube": N_("Tube"),
    "positive_control": N_("Positive control"),
    "negative_control": N_("Negative control"),
    "no_template_control": N_("No-template control"),
}

#: What a well showed after the run: a tube's call, a control's check.
WELL_OUTCOMES = {
    "positive": N_("Positive"),
    "negative": N_("Negative"),
    "retest": N_("Re-test (same sample)"),
    "recall_single_target": N_("Single target again: recall"),
    "recall_grey_zone": N_("Grey zone again: recall"),
    "invalid": N_("Invalid"),
    "void": N_("Void (a control failed)"),
    "omitted": N_("Omitted in the instrument software"),
    "passed": N_("Control passed"),
    "failed": N_("Control failed"),
}

WELL_REASONS = {
    "targets_detected": N_("Targets detected"),
    "no_target_detected": N_("No target detected, internal control valid"),
    "single_target": N_("Only one target detected"),
    "grey_zone": N_("A value in the grey zone"),
    "internal_control_failed": N_("No target and the internal control failed"),
    "plate_control_failed": N_("A control of the plate failed"),
    "sample_exhausted": N_("Sample used up"),
    "control_passed": N_("Showed what it must"),
    "well_omitted": N_("Omitted by the analyst"),
    "control_omitted": N_("Control omitted by the analyst"),
    "positive_control_failed": N_("Positive control did not amplify"),
    "negative_control_failed": N_("Negative control amplified"),
    "no_template_control_failed": N_("No-template control amplified"),
}

DECISIONS = {
    "release": N_("Release"),
    "rerun": N_("Re-run the same sample"),
    "recall": N_("Recall for a new sample"),
}

QUEUE_STATES = {
    "waiting": N_("Waiting"),
    "rerun": N_("Back for a re-run"),
    "on_plate": N_("On a plate"),
    "awaiting_release": N_("Waiting for release"),
}

RELEASE_BARS = {
    "built_the_plate": N_("You built this plate: a second laboratory user must release it "
                          "(two-person release)."),
    "imported_the_run": N_("You imported this run: a second laboratory user must release it "
                           "(two-person release)."),
}

# -- corrections and the lab report ----------------------------------------------------------

CORRECTION_STATUS = {
    "pending": N_("Waiting for a second person"),
    "applied": N_("Approved and applied"),
    "declined": N_("Declined"),
}

#: The lab report's count of correction requests, by what became of them.
CORRECTION_COUNTS = {
    "pending": N_("waiting"),
    "corrected": N_("corrected"),
    "cancelled": N_("cancelled"),
    "declined": N_("declined"),
}

#: Error codes whose words differ on the corrections page (the plates' second person is the
#: one who releases, a correction's the one who approves).
CORRECTION_ERRORS = {
    "second_person_required": N_("You requested this correction: a second laboratory user must "
                                 "approve it (two-person rule)."),
}

#: The lab report's integrity lists: what breaks the rule that every released result traces to
#: a plate, a well, a run file, passing controls and two people.
INTEGRITY_LISTS = {
    "results_without_run_file": N_("Released results without a run file"),
    "runs_without_passing_controls": N_("Runs released without passing controls"),
    "tubes_above_pool_size": N_("Tubes above their pool size"),
    "releases_by_one_person": N_("Releases by one person"),
}
