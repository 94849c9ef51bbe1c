"""Every error code a page can show, in plain words (``render.error_text`` looks a code up
here, by ``code:status``, ``code:field``, then ``code``): marked with ``N_`` for the catalogs
and translated where they are shown. ``tests/unit/test_web_error_words.py`` checks that each
code the platform raises has its words and their Chinese.

Imports: ``hesuan.entrypoints.web.i18n``.
"""

from __future__ import annotations

from hesuan.entrypoints.web.i18n import N_

__all__ = ["ERRORS"]

#: Error codes of the services, in plain words for the person at the screen.
ERRORS = {
    "missing_query": N_("Type an ID number, a phone number or a name."),
    "no_web_pages": N_("This account has no pages here: it reads the platform's API."),
    "name_needs_grid": N_("A name is looked for in a community or a grid: choose one, or "
                          "search by ID number or phone."),
    "bad_credentials": N_("Username or password is wrong."),
    "too_many_attempts": N_("Too many failed sign-ins. Try again in a few minutes."),
    "store_unavailable": N_("The system cannot save right now (storage full or unreachable). "
                            "Nothing was saved: try again in a moment."),
    "replica_not_a_copy": N_("The system cannot read the figures right now: tell the "
                             "administrator."),
    "not_signed_in": N_("Please sign in."),
    "not_authenticated": N_("Please sign in."),
    "bad_csrf": N_("The form has expired. Reload the page and try again."),
    "wrong_role": N_("Your role may not open this page."),
    "wrong_scope": N_("This is outside your site, lab or area."),
    "permission_denied": N_("Your account may not do this."),
    "wrong_site": N_("Wrong site: this belongs to another sampling site."),
    "wrong_site:box_code": N_("This box belongs to another sampling site: take a new box "
                              "for this site."),
    "wrong_site:barcode": N_("This tube belongs to another sampling site."),
    "forged_code": N_("Invalid sampling code (forged, altered or unreadable)."),
    "missing_code": N_("Scan the person's sampling code."),
    "person_in_open_tube": N_("This person is already in another open tube."),
    "recall_requires_single_tube": N_("This person has a recall: re-sample in a single tube."),
    "already_in_tube": N_("This person is already in this tube."),
    "tube_full": N_("The tube is full."),
    "tube_sealed": N_("The tube is already sealed."),
    "empty_tube": N_("An empty tube cannot be sealed."),
    "barcode_used": N_("This tube barcode has already been used."),
    "bad_barcode": N_("Not a valid tube barcode (13 digits with check digit)."),
    "bad_box_code": N_("Not a valid box code (BX and 10 digits)."),
    "unknown_tube": N_("No tube with this barcode has been opened."),
    "unknown_box": N_("No box with this code."),
    "box_sealed": N_("The box is already sealed: a box still at its site is reopened to be put "
                     "right."),
    "empty_box": N_("An empty box cannot be sealed."),
    "tube_not_sealed": N_("Seal the tube before packing it."),
    "tube_in_box": N_("The tube is already packed in a box."),
    "box_not_ready": N_("The box is not ready for this step."),
    "box_not_ready:in_transit": N_("This box was already collected by %(by)s at %(at)s."),
    "box_not_ready:received": N_("This box was already received by %(lab)s at %(at)s."),
    "box_not_ready:open": N_("This box is not sealed yet: the site seals it before it is "
                             "collected."),
    "single_tube_required": N_("This person needs a single tube (key group or recall)."),
    "site_requires_single_tube": N_("This site samples single tubes only."),
    "bad_mode": N_("Choose 1, 5, 10 or 20 people per tube."),
    "unknown_person": N_("No such person."),
    "unknown_site": N_("No such site."),
    "unknown_lab": N_("No such laboratory."),
    "not_received": N_("This laboratory has not received the tube."),
    "not_in_box": N_("A tube rejected at receipt must be one of this box's."),
    "not_missing": N_("Only a tube of this box's record that is not in the box is declared "
                      "missing, at the box's receipt."),
    "result_conflict": N_("The tube already has a different result: send a correction with a "
                          "reason."),
    "twice_in_batch": N_("This tube has a result twice in this batch: send the second one later "
                         "as a correction."),
    "bad_result": N_("Result must be negative, positive or invalid."),
    "missing_field": N_("A required field is empty."),
    "error": N_("Something went wrong. Try again; if it happens again, tell the administrator."),
    "invalid_input": N_("Something entered is not valid: check the form and try again."),
    "invalid_fields": N_("Several fields are not valid: check the form and try again."),
    "not_found": N_("Not found: it may have been removed. Reload the page."),
    "rule_violation": N_("This cannot be done now: reload the page to see the current state."),
    "conflict": N_("This clashes with what is already recorded: reload the page and check."),
    "missing_count": N_("Scan the tubes or enter the count."),
    "count_mismatch": N_("The count is not the box's: the laboratory scans its tubes; a courier "
                         "has the box checked at its site."),
    "bad_csv": N_("The file is not a readable CSV file."),
    "bad_header": N_("The file's header is not this table's: check the column names."),
    "future_time": N_("The station's clock is ahead: check the time."),
    "same_officer": N_("A second, different health officer must decide."),
    "override_decided": N_("This request has already been decided."),
    "bad_expiry": N_("The expiry must be in the future and within 14 days."),
    "bad_until": N_("The end date must be in the future and within a year."),
    "bad_reason": N_("Choose a reason."),
    "username_taken": N_("This username is taken."),
    "weak_password": N_("The password must be at least 8 characters."),
    "missing_scope": N_("This role needs a scope (site, lab, region or person)."),
    "unknown_scope": N_("No such region, site, lab, venue or person for this role's scope."),
    "unscoped_role": N_("This role acts without a scope: leave the scope empty."),
    "assignment_done": N_("This assignment is done already."),
    "policy_scope_changed": N_("A new version of a policy keeps its scope: set another scope "
                               "as a policy of its own."),
    "bad_username": N_("A username is 3 to 60 letters, digits, _ . or -."),
    "box_open": N_("Finish the box being packed first: scan it again to seal it, or press Esc."),
    "tube_open": N_("Seal the open tube first: scan its barcode again."),
    "no_open_tube": N_("Open a tube first: scan its barcode."),
    "queued": N_("Saved on this device; it will be sent when the network is back."),
    "event_conflict": N_("This scan's id was already used for a different scan: the first one "
                         "stands. Check the station."),
    "stale_time": N_("This scan is older than the station may keep scans offline."),
    "implausible_time": N_("The scan's time is impossible: check the station's clock."),
    "naive_time": N_("The scan's time has no time zone: check the station."),
    "before_tube_open": N_("The scan is earlier than its tube was opened: check the clock."),
    "before_registration": N_("The swab is earlier than the person's registration: check the "
                              "clock."),
    "before_first_sample": N_("The tube cannot be sealed before its first sample."),
    "before_last_sample": N_("The tube cannot be sealed before its last sample: check the "
                             "clock."),
    "before_tube_sealed": N_("The tube cannot be packed before it was sealed."),
    "tube_received": N_("The tube has reached a laboratory already: it is not packed again."),
    "before_packing": N_("The box cannot be sealed before its tubes were packed: check the "
                         "clock."),
    "before_box_sealed": N_("The hand-over or receipt is earlier than the box was sealed: check "
                            "the clock."),
    "before_handover": N_("The receipt is earlier than the box was handed over: check the "
                          "clock."),
    "bad_event_id": N_("The scan has no valid id: check the station."),
    "not_a_checkpoint": N_("Arrivals are registered only at an arrival checkpoint."),
    "not_on_route": N_("This household is not on your team's route."),
    "not_in_household": N_("Someone scanned is not in this household."),
    "unreadable_code": N_("Not a sampling code or a registered ID number."),
    "not_in_scope": N_("Not found in your area."),
    "unknown_plate": N_("No such plate."),
    "bad_plate_size": N_("A plate has 96 or 384 wells."),
    "bad_well": N_("Not a well of this plate."),
    "bad_placement": N_("Scan a tube or choose a control."),
    "well_taken": N_("This well already holds something: choose another well."),
    "empty_well": N_("This well holds nothing."),
    "tube_on_plate": N_("This tube is already on this plate."),
    "tube_on_other_plate": N_("This tube is on another plate."),
    "tube_resulted": N_("This tube's result is released already."),
    "controls_missing": N_("The plate cannot run without its controls."),
    "plate_empty": N_("The plate holds no tube."),
    "wrong_assay": N_("The plate was made for another assay version."),
    "plate_not_building": N_("The plate map is locked: it is no longer being built."),
    "plate_not_ready": N_("A run file is imported once, onto a plate marked ready."),
    "plate_not_imported": N_("Only an imported run that is not yet released can be released."),
    "second_person_required": N_("A second laboratory user, who neither built the plate nor "
                                 "imported its run, must release it."),
    "duplicate_run_file": N_("This file has been imported already."),
    "file_plate_mismatch": N_("The instrument file does not match the plate map."),
    "plate_size_mismatch": N_("The instrument ran a larger plate than this one: is it this "
                              "plate's file?"),
    "file_assay_mismatch": N_("The instrument file does not match the plate's assay."),
    "unknown_instrument_file": N_("Not an instrument export this system reads (QuantStudio "
                                  ".txt or .xlsx, CFX Maestro .csv)."),
    "unreadable_instrument_file": N_("The instrument file cannot be read through (cut short or "
                                     "damaged)."),
    "lab_extra_missing": N_("This server cannot read QuantStudio workbooks (.xlsx): export "
                            "the results as text."),
    "file_too_large": N_("The file is too large."),
    "missing_file": N_("Choose the instrument's export file."),
    "tube_rejected": N_("The laboratory rejected this tube: it is not tested."),
    "result_cancelled": N_("This tube's result was cancelled: its people are sampled again."),
    "bad_rejection_code": N_("Choose why the tube cannot be tested."),
    "note_required": N_("Say in the note what is wrong with the sample."),
    "note_too_long": N_("The note is too long (at most 500 characters)."),
    "not_released": N_("Only a released result can be corrected or cancelled."),
    "correction_unchanged": N_("The released result is that already."),
    "correction_pending": N_("A request for this tube is waiting for a decision: decide it "
                             "first."),
    "reason_required": N_("Say why the result is corrected or cancelled."),
    "reason_too_long": N_("The reason is too long (at most 500 characters)."),
    "unknown_correction": N_("No such correction request."),
    "correction_declined": N_("This request was declined: make a new one."),
    "correction_applied": N_("This request is applied already: request another correction."),
    "result_changed": N_("The tube's result has changed since the request: make a new "
                         "request."),
    "bad_ct": N_("A Ct value must be a number above 0 and at most 45."),
    "bad_assay": N_("The assay definition is not valid: check its id, version and targets."),
    "unknown_assay": N_("No such assay version."),
    "unknown_target": N_("This assay has no such target: enter the Ct values of its own "
                         "targets."),
    "bad_attempt": N_("The attempt must be a whole number from 1."),
    "no_run_file": N_("This plate has no run file yet: import the instrument's file first."),
    "unknown_lab_message": N_("No such lab message."),
    "message_applied": N_("This message is applied already: to change its result, request a "
                          "correction."),
    "message_discarded": N_("This message was discarded."),
    "message_unreadable": N_("This message cannot be read: discard it and ask the laboratory "
                             "system to send it again."),
    "not_hl7": N_("This is not an HL7 v2 message."),
    "unreadable_hl7": N_("The HL7 message cannot be read: ask the laboratory system to send it "
                         "again."),
    "unreadable_fhir": N_("The FHIR message cannot be read: ask the laboratory system to send it "
                          "again."),
    "interop_extra_missing": N_("This server cannot read or write HL7 and FHIR messages: ask the "
                                "administrator to install them."),
    "bad_mapping": N_("A code of the laboratory system is not mapped to a test or a result: "
                      "check the mapping."),
    "bad_id_order": N_("Name at least one source of the specimen id, each one from the list."),
    "bad_ack_code": N_("The acknowledgment could not be written: tell the administrator."),
    "bad_ack_error": N_("The acknowledgment could not be written: tell the administrator."),
    "bad_character": N_("The text holds a character that cannot be stored: type it again."),
    "too_long": N_("A field is too long: shorten it and try again."),
    "too_long:file": N_("The file is too large (at most 10 MB)."),
    "too_long:pass": N_("This is too long to be a status pass: scan the pass again."),
    "bad_number": N_("Enter a number in digits (a number of hours: at most one year)."),
    "bad_date": N_("Give the day as YYYY-MM-DD."),
    "registered_elsewhere": N_("This person is registered in another area: an officer of that "
                               "area can move them here."),
    "bad_limit": N_("This page of the list does not exist: go back to the first page."),
    "bad_format": N_("Choose SVG or PNG for the code's image."),
    "bad_language": N_("Choose Chinese or English."),
    "unknown_language": N_("This language is not offered: choose Chinese or English."),
    "unknown_file": N_("No such file."),
    "no_district_map": N_("The district map is not installed on this server: ask the "
                          "administrator."),
    "too_many": N_("Too many people in one assignment (at most 100,000): split it."),
    "batch_too_large": N_("Too many scans sent at once: send them in smaller batches."),
    "bad_id_number": N_("The ID number is not valid: check it against the document (an "
                        "18-character resident ID ends in a digit or X)."),
    "bad_id_kind": N_("Choose the kind of ID: resident ID card, passport or HK/Macau permit."),
    "bad_phone": N_("Not a valid phone number: a mobile number of 11 digits, or a landline "
                    "with its area code (0351-4040404)."),
    "bad_name": N_("The name is empty or too long: enter a shorter name."),
    "bad_group": N_("Unknown group: choose a group from the list."),
    "unknown_grid": N_("No such grid: check the grid code (15 digits)."),
    "bad_risk": N_("Choose the risk level of where the person came from: low, medium or high."),
    "bad_region_code": N_("Not a valid region code: check its digits (province 2, city 4, "
                          "district 6, street 9, community 12, grid 15)."),
    "unknown_region": N_("No such region: check the region code."),
    "missing_region": N_("Choose an area: a district, street, community or grid."),
    "bad_which": N_("No such list: choose one of the tabs."),
    "bad_level": N_("Choose a level: district, street, community or grid."),
    "status_expired": N_("This person's status has expired: a new test is needed before a pass "
                         "can be issued."),
    "status_changed": N_("The person's status changed just now: try again."),
    "bad_pass_id": N_("The pass could not be made: try again, or tell the administrator."),
    "bad_id_last4": N_("The pass could not be made: try again, or tell the administrator."),
    "programme_closed": N_("The testing programme has ended: this is no longer recorded."),
    "unknown_exemption": N_("No such exemption in force: reload the page."),
    "unknown_override": N_("No such override request."),
    "unknown_policy": N_("No such policy: choose one from the list."),
    "unknown_rule": N_("No such status rule."),
    "bad_predicate": N_("A status rule cannot use this condition: choose one from the list."),
    "bad_interval": N_("The testing interval must be between 1 hour and 30 days."),
    "bad_grace": N_("The grace period must be between 0 and 7 days."),
    "bad_reminder_lead": N_("The reminder must come 0 or more hours before, and sooner than the "
                            "testing interval."),
    "bad_retention": N_("The retention periods are not valid: tell the administrator."),
    "bad_opening_hours": N_("Write the opening hours as 07:00-21:00."),
    "bad_windows": N_("A site has 1 to 50 sampling windows."),
    "bad_capacity": N_("The daily capacity must be a number of tubes above 0."),
    "bad_location": N_("The location must be a latitude (-90 to 90) and a longitude (-180 to "
                       "180) in degrees."),
    "bad_coordinates": N_("Give both the latitude and the longitude, in degrees, or neither."),
    "bad_status": N_("Choose a status from the list."),
    "bad_code": N_("A checkpoint code is 4 to 20 letters, digits or dashes."),
    "checkpoint_code_used": N_("A checkpoint with this code already exists: choose another "
                               "code."),
    "bad_venue_code": N_("A venue code is 4 to 20 letters, digits or dashes."),
    "venue_code_used": N_("A venue with this code already exists: choose another code."),
    "unknown_venue": N_("No such venue."),
    "unknown_checkpoint": N_("No such checkpoint."),
    "unknown_place": N_("No such venue or checkpoint."),
    "bad_temperature": N_("Enter the body temperature in °C (between 30 and 45)."),
    "bad_time": N_("Enter a valid date and time."),
    "bad_time:at": N_("The time is not possible here (before the shift began, or not within the "
                      "last 7 days): check the device's clock."),
    "unknown_alert": N_("No such alert in your area."),
    "alert_not_open": N_("This alert has been dealt with already: reload the page."),
    "alert_closed": N_("This alert is already closed."),
    "bad_note": N_("The note is too long (at most 200 characters)."),
    "already_registered": N_("This person is already registered and waits to be swabbed into "
                             "their tube."),
    "not_registered": N_("This person is not registered at this site: register them first."),
    "nobody_bound": N_("No one is waiting on this tube: register people to it first."),
    "household_too_large": N_("A household of more than 20 people needs several tubes."),
    "not_a_team": N_("This site is not a door-to-door team."),
    "unknown_household": N_("No one is registered in this household."),
    "unknown_assignment": N_("No such assignment."),
    "unknown_team": N_("No such team."),
    "unknown_staff": N_("No such staff member."),
    "bad_place_kind": N_("Choose where the team works: a site, a checkpoint or a region."),
    "bad_window": N_("Not a valid window: choose one of this site's sampling windows."),
    "already_on_shift": N_("This person is already on a shift: end it first."),
    "not_on_shift": N_("This person is not on a shift."),
    "daily_limit": N_("This person has worked the most hours allowed today."),
    "needs_rest": N_("This person must rest before the next stint."),
    "no_areas": N_("A zone needs at least one area: choose areas or draw it on the map."),
    "too_many_areas": N_("Too many areas in one zone (at most 5000): choose larger areas."),
    "bad_building": N_("A building is given within a grid (15-digit code), in at most 40 "
                       "characters."),
    "bad_kind": N_("Choose a kind from the list (a zone is sealed, controlled or precaution)."),
    "bad_cadence": N_("A zone's sampling interval must be between 4 and 168 hours, or none."),
    "bad_colour": N_("Choose a code colour the zone's kind allows (a precaution zone changes no "
                     "one's colour)."),
    "bad_start": N_("The start must be within the next 7 days."),
    "bad_planned_end": N_("The planned end must be after the start, in the future and within 60 "
                          "days (extend the zone later)."),
    "bad_parts": N_("A split makes 2 to 50 zones."),
    "outside_parent": N_("Every area of a part must lie inside the zone being split or shrunk."),
    "parts_overlap": N_("The parts overlap: each area may belong to one part only."),
    "not_smaller": N_("A shrunk zone must be smaller than the zone it replaces."),
    "polygon_empty": N_("No grid of your area has its centre inside the shape: draw it larger, "
                        "or have the grid centres imported first."),
    "bad_polygon": N_("The shape drawn cannot be read: draw it again."),
    "bad_geometry": N_("The shape is not a valid polygon (too many points, outside longitude "
                       "and latitude, or crossing itself): draw it again."),
    "bad_geojson": N_("The file is not a GeoJSON FeatureCollection: export the zones as "
                      "GeoJSON."),
    "bad_areas": N_("In the file, each zone's areas must be a list of region codes."),
    "bad_rules": N_("In the file, a zone's rules are not valid: check its sampling interval, "
                    "mode, movement and colour."),
    "unknown_zone": N_("No such zone in force."),
    "zone_not_active": N_("This zone is no longer in force."),
}
