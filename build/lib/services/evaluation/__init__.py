"""evaluation: the expert committee's meetings, criteria, assessments and support decisions."""
