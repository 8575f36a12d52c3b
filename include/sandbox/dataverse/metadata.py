"""Table metadata: ``EntityDefinitions`` (with ``Attributes`` and ``Keys``), ``$metadata`` and the
service document, all generated from :mod:`schema`.

Served exactly as the Microsoft Dataverse SDK for Python asks for them:

- ``EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=LogicalName eq 'x'``
  (``$filter`` and ``$select`` go through an in-memory record store, so any simple OData filter on
  the scalar properties works);
- ``EntityDefinitions(LogicalName='x')`` or ``EntityDefinitions(<MetadataId>)``;
- ``EntityDefinitions(LogicalName='x')/Attributes[/Microsoft.Dynamics.CRM.<Type>AttributeMetadata]``
  with ``$select``, ``$filter`` and ``$expand=OptionSet`` (picklists, states and statuses carry
  their options with English labels), and ``Attributes(LogicalName='y')``;
- ``EntityDefinitions(LogicalName='x')/Keys`` (the alternate keys).

``$metadata`` is a small but valid CSDL document: one entity type per table with its key,
properties (lookups as ``_x_value``) and navigation properties, the entity sets, and ``WhoAmI``.
"""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

from include.sandbox.dataverse.errors import odata_error, segment_not_found
from include.sandbox.dataverse.schema import ATTRIBUTE_TYPES, BY_LOGICAL, NAMESPACE, TABLES, Column, Table
from include.sandbox.dataverse.urls import parse_key, split_segment
from include.sandbox.store import EntitySet, Field, QueryError, Store

CRM = "Microsoft.Dynamics.CRM"
LANGUAGE = 1033

_ENTITY_FIELDS = (
    Field("MetadataId", "guid"),
    Field("LogicalName"),
    Field("SchemaName"),
    Field("EntitySetName"),
    Field("PrimaryIdAttribute"),
    Field("PrimaryNameAttribute"),
    Field("LogicalCollectionName"),
    Field("CollectionSchemaName"),
    Field("OwnershipType"),
    Field("ObjectTypeCode", "int"),
    Field("IsCustomEntity", "bool"),
    Field("IsActivity", "bool"),
    Field("IsPrivate", "bool"),
    Field("IsIntersect", "bool"),
    Field("IsManaged", "bool"),
    Field("ChangeTrackingEnabled", "bool"),
    Field("CanChangeTrackingBeEnabled", "bool"),
    Field("IsValidForAdvancedFind", "bool"),
    Field("TableType"),
)
_ATTRIBUTE_FIELDS = (
    Field("MetadataId", "guid"),
    Field("EntityLogicalName"),
    Field("LogicalName"),
    Field("SchemaName"),
    Field("AttributeType"),
    Field("AttributeOf"),
    Field("IsPrimaryId", "bool"),
    Field("IsPrimaryName", "bool"),
    Field("IsValidForCreate", "bool"),
    Field("IsValidForUpdate", "bool"),
    Field("IsValidForRead", "bool"),
    Field("IsCustomAttribute", "bool"),
    Field("IsLogical", "bool"),
    Field("ColumnNumber", "int"),
    Field("MaxLength", "int"),
    Field("MinValue", "decimal"),
    Field("MaxValue", "decimal"),
    Field("Precision", "int"),
    Field("ODataType"),
)

_CAST_TYPES = {
    "String": "StringAttributeMetadata",
    "Memo": "MemoAttributeMetadata",
    "EntityName": "EntityNameAttributeMetadata",
    "Integer": "IntegerAttributeMetadata",
    "BigInt": "BigIntAttributeMetadata",
    "Decimal": "DecimalAttributeMetadata",
    "Money": "MoneyAttributeMetadata",
    "Double": "DoubleAttributeMetadata",
    "Boolean": "BooleanAttributeMetadata",
    "DateTime": "DateTimeAttributeMetadata",
    "Uniqueidentifier": "UniqueIdentifierAttributeMetadata",
    "Picklist": "PicklistAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
    "Lookup": "LookupAttributeMetadata",
    "Owner": "LookupAttributeMetadata",
    "Customer": "LookupAttributeMetadata",
}


def label(text: str) -> dict:
    localized = {"Label": text, "LanguageCode": LANGUAGE, "IsManaged": True, "MetadataId": None}
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": localized}


def _metadata_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def attribute_type(table: Table, column: Column) -> str:
    if column.name == table.primary_id:
        return "Uniqueidentifier"
    if column.kind == "lookup":
        if column.name == "ownerid":
            return "Owner"
        if len(column.targets) > 1 and column.name in ("customerid", "parentcustomerid"):
            return "Customer"
        return "Lookup"
    return ATTRIBUTE_TYPES[column.kind][0]


class Metadata:
    """The metadata endpoints. ``api_url`` is ``https://host:port/api/data/v9.2``."""

    def __init__(self, api_url: str):
        self.api_url = api_url
        self.store = Store(
            [
                EntitySet("EntityDefinitions", "MetadataId", _ENTITY_FIELDS),
                EntitySet("Attributes", "MetadataId", _ATTRIBUTE_FIELDS, indexes=("EntityLogicalName",)),
            ]
        )
        self.store.insert_many("EntityDefinitions", (self._entity_row(t) for t in TABLES))
        self.store.insert_many(
            "Attributes",
            (self._attribute_row(t, c, n) for t in TABLES for n, c in enumerate(t.columns, start=1)),
        )
        self._csdl: bytes | None = None

    # -- rows -----------------------------------------------------------------------------------

    @staticmethod
    def _entity_row(table: Table) -> dict:
        return {
            "MetadataId": table.metadata_id,
            "LogicalName": table.logical,
            "SchemaName": table.schema_name,
            "EntitySetName": table.entity_set,
            "PrimaryIdAttribute": table.primary_id,
            "PrimaryNameAttribute": table.primary_name,
            "LogicalCollectionName": table.entity_set,
            "CollectionSchemaName": table.schema_name + "s",
            "OwnershipType": {"UserOwned": "UserOwned", "BusinessOwned": "BusinessOwned"}.get(
                table.ownership, "OrganizationOwned" if table.ownership == "OrganizationOwned" else "None"
            ),
            "ObjectTypeCode": table.object_type_code,
            "IsCustomEntity": table.custom,
            "IsActivity": False,
            "IsPrivate": False,
            "IsIntersect": False,
            "IsManaged": True,
            "ChangeTrackingEnabled": False,
            "CanChangeTrackingBeEnabled": True,
            "IsValidForAdvancedFind": True,
            "TableType": "Standard",
        }

    @staticmethod
    def _attribute_row(table: Table, column: Column, number: int) -> dict:
        kind = attribute_type(table, column)
        return {
            "MetadataId": _metadata_id("attribute", table.logical, column.name),
            "EntityLogicalName": table.logical,
            "LogicalName": column.name,
            "SchemaName": column.name if table.custom else column.name.capitalize(),
            "AttributeType": kind,
            "AttributeOf": None,
            "IsPrimaryId": column.name == table.primary_id,
            "IsPrimaryName": column.name == table.primary_name,
            "IsValidForCreate": column.create,
            "IsValidForUpdate": column.update,
            "IsValidForRead": True,
            "IsCustomAttribute": table.custom,
            "IsLogical": False,
            "ColumnNumber": number,
            "MaxLength": column.max_length,
            "MinValue": column.minimum,
            "MaxValue": column.maximum,
            "Precision": 2 if column.kind == "money" else (5 if column.kind in ("decimal", "double") else None),
            "ODataType": _CAST_TYPES.get(kind, "AttributeMetadata"),
        }

    # -- complex properties ---------------------------------------------------------------------

    @staticmethod
    def _entity_extra(table: Table) -> dict:
        return {
            "DisplayName": label(table.display),
            "DisplayCollectionName": label(table.display + "s"),
            "Description": label(f"{table.display} ({table.logical})"),
        }

    def _attribute_extra(
        self, entity: str, logical: str, attribute_type: str, odata_type: str, expand_options: bool
    ) -> dict:
        table = BY_LOGICAL[entity]
        column = table.by_name[logical]
        extra: dict = {
            "@odata.type": f"#{CRM}.{odata_type}",
            "AttributeTypeName": {"Value": f"{attribute_type}Type"},
            "RequiredLevel": {
                "Value": "SystemRequired" if column.required else "None",
                "CanBeChanged": not column.required,
                "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
            },
            "DisplayName": label(column.display),
        }
        if column.kind == "lookup":
            extra["Targets"] = list(column.targets)
        if expand_options and column.options is not None:
            options = []
            for value, text in column.options.items():
                option = {"Value": value, "Label": label(text)}
                if column.kind == "status" and table.states:
                    option["State"] = table.status_state(value)
                if column.kind == "state" and table.states:
                    option["DefaultStatus"] = table.states[value][0]
                options.append(option)
            extra["OptionSet"] = {
                "MetadataId": _metadata_id("optionset", table.logical, column.name),
                "Name": f"{table.logical}_{column.name}",
                "IsGlobal": False,
                "OptionSetType": {"state": "State", "status": "Status"}.get(column.kind, "Picklist"),
                "Options": options,
            }
        return extra

    # -- endpoints ------------------------------------------------------------------------------

    def entity_definitions(self, segments: list[str], params: dict[str, str]) -> dict:
        """``segments`` start with the ``EntityDefinitions[(key)]`` segment."""
        _name, key = split_segment(segments[0])
        if key is None:
            if len(segments) > 1:
                raise segment_not_found(segments[1])
            rows = self._query("EntityDefinitions", params, [])
            select = _names(params.get("$select"))
            value = [self._entity_out(r, select, params) for r in rows]
            return {"@odata.context": f"{self.api_url}/$metadata#EntityDefinitions", "value": value}
        table = self._table(key)
        if len(segments) == 1:
            row = self.store.get("EntityDefinitions", table.metadata_id)
            body = self._entity_out(dict(row), _names(params.get("$select")), params)
            return {"@odata.context": f"{self.api_url}/$metadata#EntityDefinitions/$entity", **body}
        child, child_key = split_segment(segments[1])
        if child == "Keys" and child_key is None and len(segments) == 2:
            return {
                "@odata.context": f"{self.api_url}/$metadata#EntityDefinitions('{table.metadata_id}')/Keys",
                "value": self.keys(table),
            }
        if child != "Attributes":
            raise segment_not_found(segments[1])
        cast = None
        if len(segments) == 3:
            cast = segments[2]
            if not cast.startswith(f"{CRM}.") or cast[len(CRM) + 1 :] not in set(_CAST_TYPES.values()):
                raise segment_not_found(cast)
            cast = cast[len(CRM) + 1 :]
        elif len(segments) > 3:
            raise segment_not_found(segments[3])
        conditions = [self.store.tables["Attributes"].c.EntityLogicalName == table.logical]
        if cast:
            conditions.append(self.store.tables["Attributes"].c.ODataType == cast)
        expand_options = "OptionSet" in (params.get("$expand") or "")
        select = _names(params.get("$select"))
        if child_key is not None:
            parsed = parse_key(child_key)
            logical = parsed.get("LogicalName") if isinstance(parsed, dict) else None
            attribute_id = parsed if isinstance(parsed, str) else None
            table_attributes = self.store.tables["Attributes"]
            if logical is not None:
                conditions.append(table_attributes.c.LogicalName == logical)
            elif attribute_id is not None:
                conditions.append(table_attributes.c.MetadataId == attribute_id)
            else:
                raise odata_error(f"'{child_key}' is not a valid attribute key; use LogicalName='<name>'.")
            rows = self._query("Attributes", {}, conditions)
            if not rows:
                raise segment_not_found(segments[1])
            body = self._attribute_out(rows[0], select, expand_options)
            return {
                "@odata.context": f"{self.api_url}/$metadata#EntityDefinitions('{table.logical}')/Attributes/$entity",
                **body,
            }
        rows = self._query("Attributes", params, conditions)
        value = [self._attribute_out(r, select, expand_options) for r in rows]
        suffix = f"/{CRM}.{cast}" if cast else ""
        return {
            "@odata.context": f"{self.api_url}/$metadata#EntityDefinitions('{table.logical}')/Attributes{suffix}",
            "value": value,
        }

    def _table(self, key: str) -> Table:
        parsed = parse_key(key)
        if isinstance(parsed, str):
            for t in TABLES:
                if t.metadata_id == parsed:
                    return t
            raise odata_error(f"Could not find an entity with MetadataId = {parsed}.", 404)
        logical = parsed.get("LogicalName")
        if not isinstance(logical, str) or logical.lower() not in BY_LOGICAL:
            raise odata_error(f"Could not find an entity with LogicalName = '{logical}'.", 404)
        return BY_LOGICAL[logical.lower()]

    def _query(self, name: str, params: dict[str, str], conditions: list) -> list[dict]:
        try:
            return self.store.page(name, odata_filter=params.get("$filter") or None, conditions=conditions).rows
        except QueryError as exc:
            raise odata_error(exc.message) from None

    def _entity_out(self, row: dict, select: list[str] | None, params: dict[str, str]) -> dict:
        row.pop("_version", None)
        table = BY_LOGICAL[row["LogicalName"]]
        full = {**row, **self._entity_extra(table)}
        expand = params.get("$expand") or ""
        if expand.startswith("Attributes"):
            inner = expand[len("Attributes") :].strip()
            inner_select = None
            if inner.startswith("(") and inner.endswith(")"):
                for option in inner[1:-1].split(";"):
                    k, _, v = option.partition("=")
                    if k.strip() == "$select":
                        inner_select = _names(v)
            rows = self._query("Attributes", {}, [self.store.tables["Attributes"].c.EntityLogicalName == table.logical])
            full["Attributes"] = [self._attribute_out(r, inner_select, False) for r in rows]
        if select is not None:
            keep = {*select, "MetadataId", "Attributes"}
            full = {k: v for k, v in full.items() if k in keep}
        return full

    def _attribute_out(self, row: dict, select: list[str] | None, expand_options: bool) -> dict:
        row = dict(row)
        row.pop("_version", None)
        odata_type = row.pop("ODataType")
        entity = row.pop("EntityLogicalName")
        extra = self._attribute_extra(entity, row["LogicalName"], row["AttributeType"], odata_type, expand_options)
        full = {**row, **extra}
        if select is not None:
            keep = {*select, "MetadataId", "@odata.type", "OptionSet"}
            full = {k: v for k, v in full.items() if k in keep}
        return full

    def keys(self, table: Table) -> list[dict]:
        out = []
        for key in table.alternate_keys:
            name = f"{table.logical}_{'_'.join(key)}_key"
            out.append(
                {
                    "MetadataId": _metadata_id("key", table.logical, *key),
                    "LogicalName": name,
                    "SchemaName": name,
                    "EntityLogicalName": table.logical,
                    "KeyAttributes": list(key),
                    "EntityKeyIndexStatus": "Active",
                    "DisplayName": label(", ".join(key)),
                }
            )
        return out

    def service_document(self) -> dict:
        return {
            "@odata.context": f"{self.api_url}/$metadata",
            "value": [{"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set} for t in TABLES],
        }

    def csdl(self) -> bytes:
        if self._csdl is None:
            self._csdl = _build_csdl().encode()
        return self._csdl


def _names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]


def _build_csdl() -> str:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        f'<Schema Namespace="{CRM}" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        '<EntityType Name="crmbaseentity" Abstract="true" />',
    ]
    for table in TABLES:
        lines.append(f'<EntityType Name="{table.logical}" BaseType="mscrm.crmbaseentity">')
        lines.append(f'<Key><PropertyRef Name="{table.primary_id}" /></Key>')
        for column in table.columns:
            edm = ATTRIBUTE_TYPES[column.kind][1]
            attrs = (
                f' MaxLength="{column.max_length}"' if column.kind in ("string", "memo") and column.max_length else ""
            )
            if column.kind == "money":
                attrs += ' Scale="Variable"'
            lines.append(f'<Property Name="{escape(column.attribute)}" Type="{edm}"{attrs} />')
        lines.append('<Property Name="versionnumber" Type="Edm.Int64" />')
        for nav, (_column, target) in table.navigation.items():
            lines.append(f'<NavigationProperty Name="{nav}" Type="mscrm.{target}" />')
        lines.append("</EntityType>")
    lines += [
        '<ComplexType Name="WhoAmIResponse">',
        '<Property Name="BusinessUnitId" Type="Edm.Guid" Nullable="false" />',
        '<Property Name="UserId" Type="Edm.Guid" Nullable="false" />',
        '<Property Name="OrganizationId" Type="Edm.Guid" Nullable="false" />',
        "</ComplexType>",
        '<Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false" /></Function>',
        '<EntityContainer Name="System">',
    ]
    for table in TABLES:
        lines.append(f'<EntitySet Name="{table.entity_set}" EntityType="{CRM}.{table.logical}">')
        for nav, (_column, target) in table.navigation.items():
            lines.append(f'<NavigationPropertyBinding Path="{nav}" Target="{BY_LOGICAL[target].entity_set}" />')
        lines.append("</EntitySet>")
    lines += [
        f'<FunctionImport Name="WhoAmI" Function="{CRM}.WhoAmI" />',
        "</EntityContainer>",
        "</Schema>",
        "</edmx:DataServices>",
        "</edmx:Edmx>",
    ]
    return "\n".join(lines)
