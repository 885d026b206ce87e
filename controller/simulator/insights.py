"""Microsoft.Insights: data collection rules and their associations.

The rules a DCR body must follow are in :mod:`.insights_rules`.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from .core import _rg_of, _type_from_id
from .errors import ArmError, invalid_payload, not_found
from .insights_rules import ASSOCIATION_NAME_RE, DCR_NAME_RE, validate_dcr
from .messages import SimResponse, _Ctx
from .resources import T_DCR, T_DCRA, T_VMSS, T_VMSS_VM
from .validation import validate_tags


def _rule_of(body: dict[str, Any] | None) -> str:
    return (((body or {}).get("properties") or {}).get("dataCollectionRuleId") or "").lower()


class InsightsMixin:
    def _setup(self) -> None:
        super()._setup()
        self._by_rule: dict[str, dict[str, None]] = {}  # rule id -> its associations

    def _on_store(self, lid: str, body: dict[str, Any], old: dict[str, Any] | None) -> None:
        super()._on_store(lid, body, old)
        if body.get("type") != T_DCRA:
            return
        rule = _rule_of(body)
        if old is not None and _rule_of(old) != rule:
            self._by_rule.get(_rule_of(old), {}).pop(lid, None)
        if rule:
            self._by_rule.setdefault(rule, {})[lid] = None

    def _on_delete(self, lid: str, body: dict[str, Any]) -> None:
        super()._on_delete(lid, body)
        if body.get("type") == T_DCRA:
            self._by_rule.get(_rule_of(body), {}).pop(lid, None)

    def _provider_routes(self):
        sub = r"/subscriptions/(?P<sub>[^/]+)"
        dcr = sub + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Insights/dataCollectionRules"
        return super()._provider_routes() + [
            (r"^(?P<uri>/.+?)/providers/Microsoft\.Insights/dataCollectionRuleAssociations/(?P<name>[^/]+)$",
             {"GET": ("DataCollectionRuleAssociations_Get", self._dcra_get),
              "PUT": ("DataCollectionRuleAssociations_Create", self._dcra_put),
              "DELETE": ("DataCollectionRuleAssociations_Delete", self._dcra_delete)}),
            (r"^(?P<uri>/.+?)/providers/Microsoft\.Insights/dataCollectionRuleAssociations$",
             {"GET": ("DataCollectionRuleAssociations_ListByResource", self._dcra_list_by_resource)}),
            (dcr + r"/(?P<name>[^/]+)/associations$",
             {"GET": ("DataCollectionRuleAssociations_ListByRule", self._dcra_list_by_rule)}),
            (dcr + r"/(?P<name>[^/]+)$",
             {"GET": ("DataCollectionRules_Get", self._dcr_get),
              "PUT": ("DataCollectionRules_Create", self._dcr_put),
              "PATCH": ("DataCollectionRules_Update", self._dcr_patch),
              "DELETE": ("DataCollectionRules_Delete", self._dcr_delete)}),
            (dcr + r"$", {"GET": ("DataCollectionRules_ListByResourceGroup", self._list_rg(T_DCR))}),
            (sub + r"/providers/Microsoft\.Insights/dataCollectionRules$",
             {"GET": ("DataCollectionRules_ListBySubscription", self._list_sub(T_DCR))}),
        ]

    def _dcr_id(self, ctx: "_Ctx") -> tuple[str, str, str]:
        rg = self._require_rg(ctx)
        name = ctx.params["name"]
        return rg, name, self.resource_id(rg, T_DCR, name)

    def _dcr_get(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        return SimResponse(200, self._get_typed(rid, T_DCR, name, rg))

    def _dcr_put(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        if not DCR_NAME_RE.match(name):
            raise ArmError(400, "InvalidResourceName",
                           f"Resource name '{name}' is invalid: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit.")
        old = self._res.get(rid.lower())
        clean = validate_dcr(ctx.body, self._lookup, self._workspace_tables)
        if old is not None and old["location"].replace(" ", "").lower() != clean["location"].replace(" ", "").lower():
            raise ArmError(400, "InvalidResourceLocation",
                           f"The resource '{name}' already exists in location '{old['location']}' in resource group "
                           f"'{rg}'. A resource with the same name cannot be created in location '{clean['location']}'.")
        now = self._now()
        props = clean["properties"]
        props["immutableId"] = old["properties"]["immutableId"] if old else "dcr-" + uuid.UUID(int=self._rand.getrandbits(128)).hex
        props["provisioningState"] = "Succeeded"
        body: dict[str, Any] = {
            "id": old["id"] if old else rid,
            "name": old["name"] if old else name,
            "type": T_DCR,
            "location": clean["location"],
        }
        if "kind" in clean:
            body["kind"] = clean["kind"]
        if "tags" in clean:
            body["tags"] = clean["tags"]
        if "identity" in clean:
            body["identity"] = clean["identity"]
        body["etag"] = self._etag()
        body["systemData"] = {
            "createdBy": "simulator", "createdByType": "Application",
            "createdAt": old["systemData"]["createdAt"] if old else now,
            "lastModifiedBy": "simulator", "lastModifiedByType": "Application", "lastModifiedAt": now,
        }
        body["properties"] = props
        self._store(body)
        return SimResponse(200 if old else 201, body)

    def _dcr_patch(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        old = self._get_typed(rid, T_DCR, name, rg)
        if not isinstance(ctx.body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        if "tags" in ctx.body:
            tags = validate_tags(ctx.body["tags"])
            old["tags"] = tags or {}
        if "identity" in ctx.body:
            old["identity"] = copy.deepcopy(ctx.body["identity"])
        old["etag"] = self._etag()
        old["systemData"]["lastModifiedAt"] = self._now()
        return SimResponse(200, old)

    def _dcr_delete(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        lid = rid.lower()
        if lid not in self._res:
            return SimResponse(204)
        if str(ctx.query.get("deleteAssociations", "")).lower() == "true":
            for alid in list(self._by_rule.get(lid, {})):
                self._delete(alid)
        self._delete(lid)
        return SimResponse(200)

    def _target(self, uri: str) -> dict[str, Any]:
        """The resource an association hangs off; 404 as ARM answers for a missing parent."""
        body = self._lookup(uri)
        if body is None:
            rtype = _type_from_id(uri) if "/providers/" in uri.lower() else "resource"
            raise not_found(rtype, uri.rstrip("/").rsplit("/", 1)[1], _rg_of(uri))
        return body

    def _assoc_lid(self, ctx: "_Ctx") -> str:
        return (ctx.params["uri"] + "/providers/Microsoft.Insights/dataCollectionRuleAssociations/" + ctx.params["name"]).lower()

    def _dcra_get(self, ctx: "_Ctx") -> SimResponse:
        self._target(ctx.params["uri"])
        body = self._res.get(self._assoc_lid(ctx))
        if body is None:
            raise ArmError(404, "ResourceNotFound",
                           f"Data collection rule association '{ctx.params['name']}' was not found on resource '{ctx.params['uri']}'.")
        return SimResponse(200, body)

    def _dcra_put(self, ctx: "_Ctx") -> SimResponse:
        uri, name = ctx.params["uri"], ctx.params["name"]
        if not ASSOCIATION_NAME_RE.match(name):
            raise ArmError(400, "InvalidResourceName", f"Association name '{name}' is invalid.")
        target = self._target(uri)
        ttype = target.get("type")
        if ttype == T_VMSS and target["properties"].get("orchestrationMode") == "Flexible":
            raise ArmError(400, "UnsupportedResourceForAssociation",
                           f"Data collection rule associations are not supported on virtual machine scale sets with "
                           f"Flexible orchestration mode ('{target['id']}'). Associate the data collection rule with "
                           f"the scale set's virtual machines instead.")
        if ttype == T_VMSS_VM:
            raise ArmError(400, "UnsupportedResourceForAssociation",
                           "Data collection rule associations are not supported on individual instances of a Uniform "
                           "virtual machine scale set. Associate the data collection rule with the scale set instead.")
        if not isinstance(ctx.body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        props = ctx.body.get("properties") or {}
        if not isinstance(props, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'properties' must be an object.")
        rule_id = props.get("dataCollectionRuleId")
        dce_id = props.get("dataCollectionEndpointId")
        if not rule_id and not dce_id:
            raise invalid_payload("Either dataCollectionRuleId or dataCollectionEndpointId must be specified.")
        out_props: dict[str, Any] = {}
        if rule_id:
            rule = self._lookup(rule_id)
            if rule is None or rule.get("type") != T_DCR:
                raise invalid_payload(f"Data collection rule '{rule_id}' was not found or is not accessible.")
            out_props["dataCollectionRuleId"] = rule["id"]
        if dce_id:
            out_props["dataCollectionEndpointId"] = dce_id
        if props.get("description") is not None:
            out_props["description"] = props["description"]
        out_props["provisioningState"] = "Succeeded"
        lid = self._assoc_lid(ctx)
        old = self._res.get(lid)
        now = self._now()
        body = {
            "id": old["id"] if old else f"{target['id']}/providers/Microsoft.Insights/dataCollectionRuleAssociations/{name}",
            "name": old["name"] if old else name,
            "type": T_DCRA,
            "etag": self._etag(),
            "systemData": {
                "createdBy": "simulator", "createdByType": "Application",
                "createdAt": old["systemData"]["createdAt"] if old else now,
                "lastModifiedBy": "simulator", "lastModifiedByType": "Application", "lastModifiedAt": now,
            },
            "properties": out_props,
        }
        self._store(body)
        return SimResponse(200 if old else 201, body)

    def _dcra_delete(self, ctx: "_Ctx") -> SimResponse:
        self._target(ctx.params["uri"])
        if self._delete(self._assoc_lid(ctx)) is None:
            return SimResponse(204)
        return SimResponse(200)

    def _dcra_list_by_resource(self, ctx: "_Ctx") -> SimResponse:
        target = self._target(ctx.params["uri"])
        return self._page(ctx, iter(self._members(target["id"].lower() + "/providers/microsoft.insights/datacollectionruleassociations")))

    def _dcra_list_by_rule(self, ctx: "_Ctx") -> SimResponse:
        rg, name, rid = self._dcr_id(ctx)
        self._get_typed(rid, T_DCR, name, rg)
        return self._page(ctx, iter(self._by_rule.get(rid.lower(), {})))
