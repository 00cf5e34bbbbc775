"""Candidates from the program's own material (S000), used across tests."""

from typing import Any


def cystic_fibrosis() -> dict[str, Any]:
    return {
        "name": "CFTR modulator (small molecule)",
        "modality": "small-molecule",
        "product_category": "drug",
        "target_disease": "嚢胞性線維症 (cystic fibrosis)",
        "disease_category": "先天性肺疾患",
        "disease_class": "ultra-rare",
        "estimated_domestic_patients": 50,
        "overseas_approvals": [{"region": "US", "status": "approved"}],
        "domestic_status": "not-started",
        "access_route": "overseas-approved",
        "developer_type": "pharma",
        "orphan_designation": True,
        "drug_loss": {"is_drug_loss_item": True, "medical_need_confirmed": True},
        "market_viability_notes": "About 50 patients in Japan; no company has started development.",
    }


def aadc_gene_therapy() -> dict[str, Any]:
    return {
        "name": "AAV in vivo gene therapy for AADC deficiency",
        "modality": "in-vivo-gene-therapy",
        "product_category": "regenerative-medicine-product",
        "target_disease": "芳香族L-アミノ酸脱炭酸酵素欠損症 (AADC deficiency)",
        "disease_category": "先天性神経疾患",
        "disease_class": "ultra-rare",
        "estimated_domestic_patients": 10,
        "overseas_approvals": [{"region": "US", "status": "approved"}],
        "domestic_status": "not-started",
        "access_route": "overseas-approved",
        "developer_type": "venture",
        "pediatric": True,
    }
