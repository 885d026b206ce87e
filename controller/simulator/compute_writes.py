"""Microsoft.Compute writes: extensions on a VM and in a scale set's model, and the upgrade of
Uniform instances to the model (`az vmss update-instances`), as the controller's remediation
makes them. Each is long-running: 201/202 with ``Azure-AsyncOperation``; the change is made at
once and its operation answers ``Succeeded`` on the first poll.

Body rules (azure-mgmt-compute 39, generated from azure-rest-api-specs
``specification/compute``): a VM extension is a tracked resource (``location`` required); the
service also wants ``publisher``, ``type`` and ``typeHandlerVersion`` in ``properties`` (its
"Required parameter ... is missing" answer; which of them the service insists on is unverified);
``VirtualMachineScaleSetVMInstanceRequiredIDs.instanceIds`` is required and each must exist.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

from .errors import ArmError
from .messages import SimResponse, _Ctx
from .resources import T_VM, T_VMSS_EXT

_REQUIRED_EXTENSION_FIELDS = ("publisher", "type", "typeHandlerVersion")


def _extension_properties(body: Any) -> dict[str, Any]:
    props = (body or {}).get("properties") if isinstance(body, dict) else None
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidParameter", "Required parameter 'properties' is missing (null).", target="properties")
    for name in _REQUIRED_EXTENSION_FIELDS:
        if not isinstance(props.get(name), str) or not props[name]:
            raise ArmError(400, "InvalidParameter", f"Required parameter '{name}' is missing (null).", target=name)
    kept = {k: copy.deepcopy(v) for k, v in props.items() if k not in ("provisioningState", "instanceView")}
    return {**kept, "provisioningState": "Succeeded"}


class ComputeWritesMixin:
    def _provider_routes(self):
        sub = r"/subscriptions/(?P<sub>[^/]+)"
        cmp = sub + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute"
        return super()._provider_routes() + [
            (cmp + r"/virtualMachines/(?P<name>[^/]+)/extensions/(?P<ext>[^/]+)$",
             {"GET": ("VirtualMachineExtensions_Get", self._vm_extension_get),
              "PUT": ("VirtualMachineExtensions_CreateOrUpdate", self._vm_extension_put)}),
            (cmp + r"/virtualMachineScaleSets/(?P<vmss>[^/]+)/extensions/(?P<ext>[^/]+)$",
             {"GET": ("VirtualMachineScaleSetExtensions_Get", self._vmss_extension_get),
              "PUT": ("VirtualMachineScaleSetExtensions_CreateOrUpdate", self._vmss_extension_put)}),
            (cmp + r"/virtualMachineScaleSets/(?P<vmss>[^/]+)/manualupgrade$",
             {"POST": ("VirtualMachineScaleSets_UpdateInstances", self._update_instances)}),
            (sub + r"/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)$",
             {"GET": ("ComputeOperations_Get", self._compute_operation)}),
        ]

    def _accepted(self, ctx: _Ctx, status: int, location: str, body: Any = None) -> SimResponse:
        url = (f"{ctx.base_url}/subscriptions/{self.subscription_id}/providers/Microsoft.Compute/locations/"
               f"{location.replace(' ', '').lower()}/operations/{self._guid()}?api-version={quote(ctx.query['api-version'])}")
        return SimResponse(status, body, {"Azure-AsyncOperation": url, **self._retry_after_headers(self.lro_retry_after)})

    def _compute_operation(self, ctx: _Ctx) -> SimResponse:
        return SimResponse(200, {"name": ctx.params["op"], "status": "Succeeded", "startTime": self._now(), "endTime": self._now()})

    def _vm_of(self, ctx: _Ctx) -> dict[str, Any]:
        rg = self._require_rg(ctx)
        return self._get_typed(self.resource_id(rg, T_VM, ctx.params["name"]), T_VM, ctx.params["name"], rg)

    def _vm_extension_get(self, ctx: _Ctx) -> SimResponse:
        vm = self._vm_of(ctx)
        found = self._res.get(f"{vm['id']}/extensions/{ctx.params['ext']}".lower())
        if found is None:
            raise ArmError(404, "NotFound", f"The entity was not found in this Azure location: extension {ctx.params['ext']}.")
        return SimResponse(200, found)

    def _vm_extension_put(self, ctx: _Ctx) -> SimResponse:
        vm = self._vm_of(ctx)
        if not isinstance(ctx.body, dict) or not ctx.body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        props = _extension_properties(ctx.body)
        existed = self._res.get(f"{vm['id']}/extensions/{ctx.params['ext']}".lower()) is not None
        self._store_vm_extension(vm, ctx.params["ext"], props)
        stored = self._res[f"{vm['id']}/extensions/{ctx.params['ext']}".lower()]
        stored["tags"] = dict(ctx.body.get("tags") or {})
        answer = copy.deepcopy(stored)
        answer["properties"]["provisioningState"] = "Updating" if existed else "Creating"
        return self._accepted(ctx, 200 if existed else 201, vm["location"], answer)

    def _vmss_extension_get(self, ctx: _Ctx) -> SimResponse:
        vmss = self._vmss_of(ctx)
        for ext in self._model_extensions(vmss):
            if ext["name"].lower() == ctx.params["ext"].lower():
                return SimResponse(200, self._vmss_extension_body(vmss, ext))
        raise ArmError(404, "NotFound", f"Extension {ctx.params['ext']} not found in scale set {vmss['name']}.")

    def _vmss_extension_body(self, vmss: dict[str, Any], ext: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"{vmss['id']}/extensions/{ext['name']}", "name": ext["name"], "type": T_VMSS_EXT,
                "properties": copy.deepcopy(ext["properties"])}

    def _vmss_extension_put(self, ctx: _Ctx) -> SimResponse:
        """Into the model: existing Uniform instances lag it (Manual upgrade policy) and existing
        Flexible members don't get it; members made later do (azure-facts.md, "AMA is a VM extension")."""
        vmss = self._vmss_of(ctx)
        props = _extension_properties(ctx.body)
        name = ctx.params["ext"]
        existed = any(e["name"].lower() == name.lower() for e in self._model_extensions(vmss))
        extensions = [e for e in self._model_extensions(vmss) if e["name"].lower() != name.lower()]
        vmss["properties"]["virtualMachineProfile"]["extensionProfile"] = {
            "extensions": extensions + [{"name": name, "properties": props}]}
        if vmss["properties"]["orchestrationMode"] == "Uniform":
            for lid in self._members(vmss["id"].lower() + "/virtualmachines"):
                self._res[lid]["properties"]["latestModelApplied"] = False
        answer = self._vmss_extension_body(vmss, {"name": name, "properties": props})
        answer["properties"]["provisioningState"] = "Updating" if existed else "Creating"
        return self._accepted(ctx, 200 if existed else 201, vmss["location"], answer)

    def _update_instances(self, ctx: _Ctx) -> SimResponse:
        vmss = self._vmss_of(ctx)
        if vmss["properties"]["orchestrationMode"] != "Uniform":
            raise ArmError(400, "OperationNotAllowed",
                           f"Operation 'manualupgrade' is not allowed on Virtual Machine Scale Set '{vmss['name']}' "
                           "with Flexible orchestration mode.")
        ids = (ctx.body or {}).get("instanceIds") if isinstance(ctx.body, dict) else None
        if not isinstance(ids, list) or not ids:
            raise ArmError(400, "InvalidParameter", "Required parameter 'instanceIds' is missing (null).", target="instanceIds")
        instances = [self._res.get(f"{vmss['id']}/virtualMachines/{i}".lower()) for i in ids]
        missing = [str(i) for i, found in zip(ids, instances) if found is None]
        if missing:
            raise ArmError(404, "NotFound", f"Instance ids {', '.join(missing)} of scale set '{vmss['name']}' do not exist.")
        for instance in instances:
            instance["properties"]["latestModelApplied"] = True
        return self._accepted(ctx, 202, vmss["location"])

