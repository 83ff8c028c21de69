"""The status page's own words (labels, headings, footer) in each message language.

The page shows customer messages in ``status_page.language``; its chrome must read in the
same language, or a French customer meets "Major outage" above a French apology.
"""

from __future__ import annotations

from typing import Literal

from lifeboat.runbook.model import Stage

Language = Literal["en", "fr", "nl"]

#: Per language: status labels, overall banners, stage labels, and the page's phrases.
WORDS: dict[Language, dict[str, str]] = {
    "en": {
        "operational": "Operational",
        "maintenance": "Under maintenance",
        "major_outage": "Major outage",
        "overall.operational": "All systems operational",
        "overall.maintenance": "Planned maintenance",
        "overall.major_outage": "Service disruption",
        Stage.maintenance_scheduled: "Planned maintenance",
        Stage.incident_opened: "Investigating",
        Stage.incident_update: "Update",
        Stage.incident_resolved: "Resolved",
        Stage.incident_postmortem: "Post-incident review",
        Stage.provider_escalation: "Escalation",
        Stage.incident_failed: "Update",
        "services": "Services",
        "incidents": "Incidents",
        "reference": "Reference",
        "first_reported": "first reported",
        "affects": "affects",
        "no_incidents": "No incidents reported.",
        "utc": "Times are UTC.",
        "last_updated": "Last updated",
        "follow": "Follow",
    },
    "fr": {
        "operational": "Opérationnel",
        "maintenance": "En maintenance",
        "major_outage": "Panne majeure",
        "overall.operational": "Tous les services fonctionnent",
        "overall.maintenance": "Maintenance programmée",
        "overall.major_outage": "Service perturbé",
        Stage.maintenance_scheduled: "Maintenance programmée",
        Stage.incident_opened: "Analyse en cours",
        Stage.incident_update: "Point d'étape",
        Stage.incident_resolved: "Résolu",
        Stage.incident_postmortem: "Retour d'expérience",
        Stage.provider_escalation: "Escalade",
        Stage.incident_failed: "Point d'étape",
        "services": "Services",
        "incidents": "Incidents",
        "reference": "Référence",
        "first_reported": "signalé le",
        "affects": "concerne",
        "no_incidents": "Aucun incident signalé.",
        "utc": "Heures en UTC.",
        "last_updated": "Dernière mise à jour",
        "follow": "Suivre",
    },
    "nl": {
        "operational": "Operationeel",
        "maintenance": "In onderhoud",
        "major_outage": "Grote storing",
        "overall.operational": "Alle systemen operationeel",
        "overall.maintenance": "Gepland onderhoud",
        "overall.major_outage": "Storing in de dienstverlening",
        Stage.maintenance_scheduled: "Gepland onderhoud",
        Stage.incident_opened: "Onderzoek loopt",
        Stage.incident_update: "Update",
        Stage.incident_resolved: "Opgelost",
        Stage.incident_postmortem: "Evaluatie na het incident",
        Stage.provider_escalation: "Escalatie",
        Stage.incident_failed: "Update",
        "services": "Diensten",
        "incidents": "Incidenten",
        "reference": "Referentie",
        "first_reported": "eerst gemeld",
        "affects": "betreft",
        "no_incidents": "Geen incidenten gemeld.",
        "utc": "Tijden in UTC.",
        "last_updated": "Laatst bijgewerkt",
        "follow": "Volgen",
    },
}
