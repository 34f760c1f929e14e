"""The governance file: who may do what, at what cost, how often, with whose approval;
and what every handoff must carry. Declared once (YAML), validated here, enforced by the
SDK (``Recorder.authorize``) and audited by the processors and the ledger.

Precedence between matching rules is fixed: deny beats escalate, escalate beats
needs_approval, needs_approval beats allow. Anything no rule allows is denied, with a
reason that names what is missing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handrail.governance.signing import SigningError, fingerprint, parse_public_key
from handrail.schemas.models import Effect

Mode = Literal["enforce", "shadow"]
OnReject = Literal["return_to_sender", "compensate", "escalate"]
Stricter = Literal["deny", "needs_approval", "escalate"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


GROUP = "group:"
"""A principal naming a group (``group:payments-leads``) rather than a person."""
Principals = tuple[str, ...]
"""People (by name) and groups (``group:NAME``) who hold a right."""


class KeyHolder(_Strict):
    """A person or a processor that signs decisions, with its public keys."""

    keys: tuple[str, ...] = Field(
        min_length=1,
        description="Ed25519 public keys, `ssh-ed25519 AAAA...` (several while rotating).",
    )

    @model_validator(mode="after")
    def _parse(self) -> KeyHolder:
        for key in self.keys:
            try:
                parse_public_key(key)
            except SigningError as exc:
                raise ValueError(str(exc)) from None
        return self


class AgentDecl(_Strict):
    owner: str = Field(description="Team that owns the agent.")
    oncall: str | None = Field(None, description="On-call route for its alerts.")
    daily_budget_usd: float | None = Field(
        None, gt=0, description="Spend per UTC day; a request beyond it gets `over_budget`."
    )
    over_budget: Stricter = Field("needs_approval", description="Effect past the budget.")
    resumers: Principals = Field(
        (), description="Who may also lift this agent's halts (besides `halts.resumers`)."
    )


class SpendCap(_Strict):
    per_request_usd: float = Field(gt=0, description="Most one request may cost.")
    over: Stricter = Field("needs_approval", description="Effect of a dearer request.")


class RetryBudget(_Strict):
    max_retries: int = Field(ge=0, description="Retries allowed after the first attempt.")
    then: Stricter = Field("escalate", description="Effect of the attempt past the budget.")


class Approval(_Strict):
    timeout_s: float = Field(300.0, gt=0, description="How long an agent waits for a human.")
    on_timeout: Literal["deny", "escalate"] = Field("deny", description="Then what.")
    approvers: Principals = Field(
        (), description="Who may approve or deny (people, `group:NAME`); none: nobody can."
    )


class Right(_Strict):
    """One rule: ``agent`` may ``action`` (on ``resource``) with ``effect``; globs match."""

    agent: str = Field("*", description="Agent name (glob).")
    action: str = Field(description="Action (glob), e.g. `db.customers.write`, `api.*`.")
    resource: str = Field("*", description="Resource (glob), e.g. `db.customers`.")
    effect: Effect = Field(description="allow, deny, needs_approval or escalate.")
    reason: str = Field("", description="Why, in the words an auditor will read.")
    spend: SpendCap | None = None
    retries: RetryBudget | None = None
    approval: Approval = Field(default_factory=Approval)

    @property
    def name(self) -> str:
        return f"{self.agent}:{self.action}@{self.resource}"


class Contract(_Strict):
    """What a handoff's payload must be: one of a pydantic model or a JSON Schema."""

    model: str | None = Field(
        None,
        pattern=r"^[\w.]+:[\w.]+$",
        description="Import path of a pydantic model, `pkg.mod:Name`.",
    )
    json_schema: dict[str, object] | None = Field(None, description="Or a JSON Schema.")

    @model_validator(mode="after")
    def _one(self) -> Contract:
        if (self.model is None) == (self.json_schema is None):
            raise ValueError("give exactly one of `model` and `json_schema`")
        if self.json_schema is not None:
            # jsonschema loads only for a contract given as JSON Schema (the SDK stays light)
            from jsonschema import Draft202012Validator  # noqa: PLC0415
            from jsonschema.exceptions import SchemaError  # noqa: PLC0415

            try:
                Draft202012Validator.check_schema(self.json_schema)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return self


class HandoffDecl(_Strict):
    sender: str = Field(alias="from", description="Sending agent.")
    receiver: str = Field(alias="to", description="Receiving agent.")
    contract: Contract | None = None
    checks: tuple[str, ...] = Field((), description="Checks the receiver runs on accept.")
    on_reject: OnReject = "return_to_sender"
    owner: str = Field(description="Who answers for this edge.")
    deadline_s: float = Field(300.0, gt=0, description="Unanswered this long = stalled.")


class Halts(_Strict):
    resumers: Principals = Field((), description="Who may lift any halt; none: nobody can.")


class Governance(_Strict):
    version: Literal[1] = 1
    mode: Mode = Field("enforce", description="shadow: record verdicts, never block.")
    agents: dict[str, AgentDecl] = Field(default_factory=dict)
    rights: tuple[Right, ...] = ()
    handoffs: tuple[HandoffDecl, ...] = ()
    people: dict[str, KeyHolder] = Field(
        default_factory=dict, description="Who signs approvals and resumes, with their keys."
    )
    groups: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Named sets of people, `group:NAME` in a right."
    )
    processors: dict[str, KeyHolder] = Field(
        default_factory=dict, description="The processors that sign halts, with their keys."
    )
    halts: Halts = Field(default_factory=Halts)

    @model_validator(mode="after")
    def _identities(self) -> Governance:
        """Every name a right uses is declared, and every key has one holder: a signature
        then names exactly one person (or processor), never an agent."""
        clash = set(self.people) & (set(self.processors) | set(self.agents))
        if clash:
            raise ValueError(f"{sorted(clash)} are declared as people and as agents or "
                             "processors; a signer must be only a person")  # fmt: skip
        for group, members in self.groups.items():
            unknown = sorted(set(members) - set(self.people))
            if unknown:
                raise ValueError(f"group {group!r} names {unknown}, not under `people`")
        holders: dict[str, str] = {}
        for name, holder in (*self.people.items(), *self.processors.items()):
            for key in holder.keys:
                seen = holders.setdefault(fingerprint(parse_public_key(key)), name)
                if seen != name:
                    raise ValueError(f"{name!r} and {seen!r} hold the same public key")
        named = [("halts.resumers", self.halts.resumers)]
        named += [(f"agents.{a}.resumers", d.resumers) for a, d in self.agents.items()]
        named += [(f"rights.{i}.approval.approvers", r.approval.approvers)
                  for i, r in enumerate(self.rights)]  # fmt: skip
        for where, principals in named:
            for principal in principals:
                if not self._declared(principal):
                    raise ValueError(f"{where}: {principal!r} is not declared under `people` "
                                     "(or `groups` for group:NAME)")  # fmt: skip
        return self

    def _declared(self, principal: str) -> bool:
        if principal.startswith(GROUP):
            return principal.removeprefix(GROUP) in self.groups
        return principal in self.people

    def members(self, principals: Principals) -> frozenset[str]:
        """The people ``principals`` name, groups expanded."""
        found: set[str] = set()
        for principal in principals:
            if principal.startswith(GROUP):
                found.update(self.groups.get(principal.removeprefix(GROUP), ()))
            elif principal in self.people:
                found.add(principal)
        return frozenset(found)
