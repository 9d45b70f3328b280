"""Patient records: clinics, users, patients -> lesions -> visits, sealed photos, an append-only audit trail.

This package imports no Flask (like ``lesion``); the web side is ``app/records_*.py``.

Modules
-------
``models``      SQLAlchemy 2 models (``Clinic``, ``User``, ``Patient``, ``Lesion``, ``Visit``, ``Photo``,
                ``Reanalysis``, ``AuditEvent``, ``SignInSession``, ``ApiToken``; ``SITES``, ``SEXES``).
``db``          ``make_engine(url)``, ``session_factory``, ``schema_problem`` (Alembic head vs database),
                ``migrate(url)``; migrations live in ``migrations/``.
``crypto``      ``PhotoCipher`` (AES-256-GCM, key = LESION_RECORDS_KEY, URL-safe base64 of 32 bytes).
``repository``  ``ClinicRecords(session, clinic_id)``: the only way to reach records. ``patients(search)``,
                ``patient(id)``, ``add_patient(code, birth_year, sex)``, ``lesion(id)`` (with ``.visits`` in
                date order), ``add_lesion(patient_id, site, label)``, ``visit(id)``, ``visits(lesion_id)``,
                ``previous_visit(visit)``. Another clinic's record raises ``errors.NotFoundError`` (-> 404).
                Bad input raises ``errors.InvalidRecordError`` (-> 400, message names the field).
``service``     ``read_photo`` (audited), ``open_photo`` (not audited), ``export_patient_zip`` (audited, bytes
                of a zip: patient.json + photos/), ``erase_patient`` (hard delete, audited with the code),
                ``patient_json`` / ``lesion_json`` / ``visit_json`` (the API's shapes, reusable in pages).
``accounts``    ``create_user``, ``set_disabled``, ``authenticate`` (scrypt, 5 failures -> 15-minute lock),
                ``start_session`` / ``session_user`` / ``end_session``, ``issue_token`` / ``token_user``.
``audit``       ``record(session, actor, action, target, detail)``, ``events(session, clinic_id)``, actions
                ``CREATE``, ``READ_PHOTO``, ``EXPORT``, ``REANALYSE``, ``ERASE``, ``SIGN_IN``...
``keys``        ``rotate_key(session, old_cipher, new_cipher)``. ``backup``: ``backup(url, file)``, ``restore``.

For the HTML pages (``app/records_pages.py``), from Flask:
-----------------------------------------------------------
- ``app.records_extension``: ``clinic_records()`` -> ``ClinicRecords`` of the signed-in user's clinic;
  ``photo_cipher()``; ``actor()`` (who + address, for the audit trail); ``db_session()``;
  ``require_records()`` (404 when records are off, 503 when unavailable: call it in ``before_request``);
  ``flask_login.login_required`` works (login view ``records_auth.signin``); ``current_user.user`` is the
  ``User``. Every POST under ``/records`` is CSRF-checked already: forms add
  ``<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">``.
- ``app.records_visits``: ``save_visit(records, cipher, actor, lesion_id, data, date, predictor, max_pixels,
  mm_per_px)`` -> ``SavedVisit(visit, comparison)`` (``comparison`` a ``lesion.change.ChangeResult`` vs the
  visit before, or None; ``.change`` the API dict); ``compare_with_previous(records, cipher, visit_id,
  predictor, max_pixels)`` -> ``(ChangeResult, previous_visit)`` or None (render it with
  ``lesion.change.change_rows`` / ``overlay_png_base64``; flag when ``change.area_ratio > 1.2`` or
  ``change.colours_added``); ``analyse_visit(...)`` -> ``UploadResult`` (for the outline);
  ``reanalyse_visit(records, cipher, actor, visit_id, predictor, max_pixels)`` -> ``Reanalysis`` (kept beside the
  original: ``visit.analysis`` and ``visit.reanalyses``).
- Services commit their own work. After reads, routes that then run the models should commit (end the
  read) first, as these functions do, so SQLite's write lock is never held during an analysis.
"""
