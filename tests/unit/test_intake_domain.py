import pytest
from pydantic import ValidationError

from services.intake import domain
from shared.events.codes import ProgramStage, SurveyReportKind
from shared.events.intake import CandidateProfile
from tests.examples import aadc_gene_therapy, cystic_fibrosis


def _registered() -> domain.Candidate:
    profile = CandidateProfile.model_validate(cystic_fibrosis())
    return domain.register(profile, candidate_id="c-1", registered_by="ncchd")


def test_a_registered_candidate_starts_surveyed_at_version_1() -> None:
    candidate = _registered()
    assert (candidate.stage, candidate.version, candidate.registered_by) == (
        ProgramStage.SURVEYED,
        1,
        "ncchd",
    )


def test_revise_reports_exactly_the_changed_fields_and_bumps_the_version() -> None:
    revised, changed = domain.revise(
        _registered(), {"estimated_domestic_patients": 48, "name": cystic_fibrosis()["name"]}
    )
    assert changed == ["estimated_domestic_patients"]
    assert (revised.version, revised.estimated_domestic_patients) == (2, 48)


def test_a_revision_without_change_keeps_the_version() -> None:
    candidate = _registered()
    assert domain.revise(candidate, {"pediatric": False}) == (candidate, [])


def test_a_revision_is_checked_against_the_whole_profile() -> None:
    # 0 patients is allowed for an infection absent in peacetime, never for an ultra-rare disease
    with pytest.raises(ValidationError, match="estimated_domestic_patients"):
        domain.revise(_registered(), {"estimated_domestic_patients": 0})
    revised, _ = domain.revise(
        _registered(),
        {"disease_class": "peacetime-absent-infection", "estimated_domestic_patients": 0},
    )
    assert revised.estimated_domestic_patients == 0


def test_a_withdrawn_candidate_is_closed() -> None:
    withdrawn = domain.withdraw(_registered())
    assert (withdrawn.stage, withdrawn.version) == (ProgramStage.WITHDRAWN, 2)
    with pytest.raises(domain.RuleViolation):
        domain.revise(withdrawn, {"name": "x"})
    with pytest.raises(domain.RuleViolation):
        domain.withdraw(withdrawn)
    with pytest.raises(domain.RuleViolation):
        domain.ensure_report_allowed(withdrawn, SurveyReportKind.INTERIM, final_exists=False)


def test_only_one_final_survey_report() -> None:
    candidate = _registered()
    domain.ensure_report_allowed(candidate, SurveyReportKind.INTERIM, final_exists=True)
    with pytest.raises(domain.RuleViolation, match="final"):
        domain.ensure_report_allowed(candidate, SurveyReportKind.FINAL, final_exists=True)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"estimated_domestic_patients": 1001}, "estimated_domestic_patients"),
        ({"target_disease": ""}, "target_disease"),
        ({"product_category": "device"}, "product_category"),
        (
            {"overseas_approvals": [{"region": "EU", "status": "approved"}] * 2},
            "overseas_approvals",
        ),
    ],
)
def test_profile_rules_name_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        CandidateProfile.model_validate({**aadc_gene_therapy(), **change})
    assert [issue["loc"][0] for issue in error.value.errors()] == [field]
