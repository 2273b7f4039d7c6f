"""Bastion: a deterministic policy engine and enforcement point for AI-agent actions."""

from bastion.errors import ActionError, BastionError, PolicyError, Problem
from bastion.model import Action, Decision, Effect, Layer, Severity, Subject

__all__ = [
    "Action",
    "ActionError",
    "BastionError",
    "Decision",
    "Effect",
    "Layer",
    "PolicyError",
    "Problem",
    "Severity",
    "Subject",
]
