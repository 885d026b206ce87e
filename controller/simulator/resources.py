"""The ARM resource types the simulator stores, and the short names :meth:`ArmSimulator.list` takes.

A new provider adds its types here, so the store (``core``) and every provider can name them
without importing each other.
"""

T_VM = "Microsoft.Compute/virtualMachines"
T_VMSS = "Microsoft.Compute/virtualMachineScaleSets"
T_VMSS_VM = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
T_VM_EXT = "Microsoft.Compute/virtualMachines/extensions"
T_VMSS_EXT = "Microsoft.Compute/virtualMachineScaleSets/extensions"
T_WS = "Microsoft.OperationalInsights/workspaces"
T_TABLE = "Microsoft.OperationalInsights/workspaces/tables"
T_SAVED_SEARCH = "Microsoft.OperationalInsights/workspaces/savedSearches"
T_DCR = "Microsoft.Insights/dataCollectionRules"
T_DCRA = "Microsoft.Insights/dataCollectionRuleAssociations"

#: short names accepted by :meth:`ArmSimulator.list`
KINDS = {
    "vm": T_VM, "vms": T_VM,
    "vmss": T_VMSS,
    "instance": T_VMSS_VM, "instances": T_VMSS_VM,
    "workspace": T_WS, "workspaces": T_WS,
    "table": T_TABLE, "tables": T_TABLE,
    "function": T_SAVED_SEARCH, "functions": T_SAVED_SEARCH, "savedsearches": T_SAVED_SEARCH,
    "dcr": T_DCR, "dcrs": T_DCR,
    "association": T_DCRA, "associations": T_DCRA, "dcra": T_DCRA,
    # the last segment of the ARM type works too
    "virtualmachines": T_VM, "virtualmachinescalesets": T_VMSS, "datacollectionrules": T_DCR,
    "datacollectionruleassociations": T_DCRA,
}
