"""``$metadata``: CSDL documents describing the emulated entity sets, built from the views."""

from __future__ import annotations

from functools import cache
from xml.sax.saxutils import quoteattr

from include.sandbox.bc.views import API, WEB_SERVICES, View

EDM = {
    "string": "Edm.String",
    "decimal": "Edm.Decimal",
    "int": "Edm.Int32",
    "bool": "Edm.Boolean",
    "guid": "Edm.Guid",
    "date": "Edm.Date",
    "datetime": "Edm.DateTimeOffset",
}


def _entity_type(view: View, namespace: str) -> list[str]:
    lines = [f"<EntityType Name={quoteattr(view.type_name)}>", "<Key>"]
    lines += [f"<PropertyRef Name={quoteattr(k)}/>" for k in view.key]
    lines.append("</Key>")
    for prop in view.props:
        edm = EDM[view.type_of(prop)]
        attrs = f"Name={quoteattr(prop.name)} Type={quoteattr(edm)}"
        if prop.name in view.key:
            attrs += ' Nullable="false"'
        if prop.column is not None:
            f = view.es.by_name[prop.column]
            if f.type == "string" and f.max_length and not f.options:
                attrs += f' MaxLength="{f.max_length}"'
        lines.append(f"<Property {attrs}/>")
    for nav in view.navs:
        target = API[nav.target]
        kind = f"Collection({namespace}.{target.type_name})" if nav.many else f"{namespace}.{target.type_name}"
        lines.append(f"<NavigationProperty Name={quoteattr(nav.name)} Type={quoteattr(kind)}/>")
    lines.append("</EntityType>")
    return lines


def _document(namespace: str, views: list[View], extra_types: list[str], extra_sets: list[str], actions: bool) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        f'<Schema Namespace="{namespace}" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        *extra_types,
    ]
    seen = set()
    for view in views:
        if view.type_name not in seen:
            seen.add(view.type_name)
            lines += _entity_type(view, namespace)
    if actions:
        for view in views:
            for action in view.actions:
                lines += [
                    f'<Action Name="{action}" IsBound="true">',
                    f'<Parameter Name="bindingParameter" Type="{namespace}.{view.type_name}"/>',
                    "</Action>",
                ]
    lines.append('<EntityContainer Name="default">')
    lines += extra_sets
    for view in views:
        lines.append(f"<EntitySet Name={quoteattr(view.name)} EntityType={quoteattr(f'{namespace}.{view.type_name}')}>")
        for nav in view.navs:
            lines.append(f"<NavigationPropertyBinding Path={quoteattr(nav.name)} Target={quoteattr(nav.target)}/>")
        lines.append("</EntitySet>")
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines).encode()


@cache
def api_document() -> bytes:
    company = [
        '<EntityType Name="company">',
        '<Key><PropertyRef Name="id"/></Key>',
        '<Property Name="id" Type="Edm.Guid" Nullable="false"/>',
        '<Property Name="systemVersion" Type="Edm.String"/>',
        '<Property Name="timestamp" Type="Edm.Int64"/>',
        '<Property Name="name" Type="Edm.String" MaxLength="30"/>',
        '<Property Name="displayName" Type="Edm.String" MaxLength="250"/>',
        '<Property Name="businessProfileId" Type="Edm.String" MaxLength="250"/>',
        '<Property Name="systemCreatedAt" Type="Edm.DateTimeOffset"/>',
        '<Property Name="systemCreatedBy" Type="Edm.Guid"/>',
        '<Property Name="systemModifiedAt" Type="Edm.DateTimeOffset"/>',
        '<Property Name="systemModifiedBy" Type="Edm.Guid"/>',
        "</EntityType>",
    ]
    sets = ['<EntitySet Name="companies" EntityType="Microsoft.NAV.company"/>']
    return _document("Microsoft.NAV", list(API.values()), company, sets, actions=True)


@cache
def web_services_document() -> bytes:
    company = [
        '<EntityType Name="Company">',
        '<Key><PropertyRef Name="Name"/></Key>',
        '<Property Name="Name" Type="Edm.String" Nullable="false" MaxLength="30"/>',
        '<Property Name="Evaluation_Company" Type="Edm.Boolean"/>',
        '<Property Name="Display_Name" Type="Edm.String" MaxLength="250"/>',
        '<Property Name="Id" Type="Edm.Guid"/>',
        '<Property Name="Business_Profile_Id" Type="Edm.String" MaxLength="250"/>',
        "</EntityType>",
    ]
    sets = ['<EntitySet Name="Company" EntityType="NAV.Company"/>']
    return _document("NAV", list(WEB_SERVICES.values()), company, sets, actions=False)
