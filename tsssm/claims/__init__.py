"""The claims report: tracked runs in, a verdict on each claim made for state-space models out.

``catalogue`` declares the claims and the runs each reads; ``runs`` reads them from MLflow;
``comparison`` and ``scaling`` judge them with ``stats``; ``verdicts`` words the outcome;
``markdown`` and ``write`` produce the report. Run it as ``python -m tsssm.claims``.
"""
