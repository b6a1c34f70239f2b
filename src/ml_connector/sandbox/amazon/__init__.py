"""The SP-API + LWA simulator: one seller's seeded, internally consistent Amazon history served with
Amazon's paths, shapes, usage plans, paging and error rules (see app.create_app)."""
