"""What a view is made of: public properties, navigation properties, and the view over a table."""

from __future__ import annotations

from dataclasses import dataclass, field

from include.sandbox.bc import tables as t


@dataclass(frozen=True)
class Prop:
    """One public property.

    :param column: the table column, or ``None`` for a value computed on read.
    :param writable: clients may set it (on create and update).
    :param create_only: clients may set it on create only.
    :param type: the store type of a computed property.
    """

    name: str
    column: str | None
    writable: bool = True
    create_only: bool = False
    type: str = "string"


@dataclass(frozen=True)
class Nav:
    """A navigation property: ``local`` of this view equals ``remote`` of the target view."""

    name: str
    target: str
    local: str
    remote: str
    many: bool = False


@dataclass
class View:
    """An entity set over a table.

    :param where: fixed column values of the records this view shows (and gives new records).
    :param key: the public properties that make up the URL key.
    :param compute: the name of the function in ``figures.COMPUTED`` that fills computed properties.
    :param needs_document: a flat line set: listing needs ``documentId`` (or ``id``) in ``$filter``.
    :param actions: bound actions (``Microsoft.NAV.<name>``) -> function name in ``posting.ACTIONS``.
    """

    name: str
    type_name: str
    table: str
    props: tuple[Prop, ...]
    key: tuple[str, ...] = ("id",)
    where: dict[str, str] = field(default_factory=dict)
    navs: tuple[Nav, ...] = ()
    methods: frozenset[str] = frozenset({"GET", "POST", "PATCH", "DELETE"})
    compute: str | None = None
    needs_document: bool = False
    actions: dict[str, str] = field(default_factory=dict)
    kind: str = "api"

    def __post_init__(self) -> None:
        self.by_name = {p.name: p for p in self.props}
        # public name -> column, for the store (computed properties are not columns)
        self.mapping = {p.name: p.column for p in self.props if p.column is not None}
        self.by_column = {p.column: p.name for p in self.props if p.column is not None}
        self.computed = tuple(p.name for p in self.props if p.column is None)
        self.navs_by_name = {n.name: n for n in self.navs}
        self.es = t.BY_NAME[self.table]

    def type_of(self, prop: Prop) -> str:
        return prop.type if prop.column is None else self.es.by_name[prop.column].type


def ro(name: str, column: str | None, type: str = "string") -> Prop:
    return Prop(name, column, writable=False, type=type)


def rw(name: str, column: str) -> Prop:
    return Prop(name, column)


def computed(name: str, type: str = "decimal") -> Prop:
    return Prop(name, None, writable=False, type=type)


ID = ro("id", "SystemId")
MODIFIED = ro("lastModifiedDateTime", "SystemModifiedAt")


def api_address(prefix_public: str = "", prefix_column: str = "", ro_all: bool = False) -> tuple[Prop, ...]:
    names = [
        ("AddressLine1", "Address"),
        ("AddressLine2", "Address_2"),
        ("City", "City"),
        ("Country", "Country_Region_Code"),
        ("State", "County"),
        ("PostCode", "Post_Code"),
    ]
    out = []
    for public, column in names:
        name = prefix_public + public if prefix_public else public[0].lower() + public[1:]
        if not prefix_public and public == "PostCode":
            name = "postalCode"
        out.append(Prop(name, prefix_column + column, writable=not ro_all))
    return tuple(out)


def code_view(name: str, type_name: str, table: str, *extra: Prop) -> View:
    return View(name, type_name, table, (ID, rw("code", "Code"), rw("displayName", "Description"), *extra, MODIFIED))


def ws_props(table: str, columns: tuple[str, ...], read_only: tuple[str, ...] = ()) -> tuple[Prop, ...]:
    system = ("SystemId", "SystemCreatedAt", "SystemModifiedAt")
    return tuple(
        Prop(c, c, writable=c not in read_only and c not in system) for c in (*columns, "SystemId", "SystemModifiedAt")
    )


def columns_of(table: str, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    skip = {"SystemId", "SystemCreatedAt", "SystemModifiedAt", *exclude}
    return tuple(f.name for f in t.BY_NAME[table].fields if f.name not in skip)
