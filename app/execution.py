"""How the schema executes an operation: Strawberry's executor (graphql-core's, through the
`execution_context_class` Strawberry's schema takes), with shortcuts for plain fields.

Most values of a response are strings, booleans, enums, dates and amounts read from
attributes (a page of 50 clients is about a thousand of them), and most of its objects are
read from attributes too (each edge, its node, the node's currency and address). For each
field, graphql-core makes a response path and a resolve info, calls Strawberry's resolver
(which reads the attribute), completes the non-null wrapper, then the list, each item, the
object or the leaf type: about 4 µs per leaf, more per object.

A field Strawberry calls basic (no resolver, no field extensions: no permission check of
its own) that takes no arguments is plain. `execute_fields` takes an object's fields in the
order of the selection, as graphql-core does, and reads a plain one's value as Strawberry
reads it (the config's default resolver, `getattr`):
- a plain leaf (scalar or enum) is coerced by its type as graphql-core does; when that gives
  a value (or a null the field allows), the value goes straight into the result, without a
  response path or a resolve info;
- a plain object, or list of objects (no interface or union), is completed item by item
  through graphql-core's own methods for a collected selection (`collect_subfields`,
  `execute_collected_subfields`), with the paths graphql-core gives and its handling of
  errors raised inside (an item's error nulls the item, or the list when items are non-null,
  through `handle_field_error`). A type that checks its values (`is_type_of`, as every Node
  type does) is asked first, with the field's resolve info.
A list of objects that a resolver returns is completed the same way (`complete_list_value`),
and so is a field that declares where its parent may hold a prefetched value
(schema/prefetched.py), when the parent holds one.

Anything else — an error returned as the value, a value that does not coerce or that its
type does not take, a null in a non-null position (of the field or of a list item), an
awaitable, an iterable that is not a list or tuple, `@stream`, `@defer`, middleware — and
every other field goes through graphql-core's `execute_field` before anything of it ran,
which answers as before, errors and paths included (tests/app/test_execution.py compares
both executors' answers, key order and errors).
"""

from __future__ import annotations

from types import GeneratorType
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    OperationType,
    Undefined,
    get_nullable_type,
)
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.plain_fields import (
    PlainLeaf,
    PlainObject,
    SelectionPlan,
    selection_plan,
)

ResolveInfo = GraphQLResolveInfo[Any]


class ClientdeskExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Middleware would wrap every resolver (Strawberry passes an empty manager).
        middleware = self.middleware_manager
        self._shortcuts = not middleware or not middleware.middlewares
        # graphql-core collects a selection once per execution and hands the same grouped
        # field set to every object it completes with it (each item of a list).
        self._plans: dict[int, SelectionPlan] = {}
        # Types whose values were found to be neither errors nor awaitables (`_is_settled`).
        self._settled_types: set[type] = set()

    def execute_operation(self, serially: bool | None = None) -> Any:
        """An event of a subscription (its executor is a copy made per event, the event as
        root value): executed once for every socket that shares it (resolvers/fanout.py)."""
        if self.operation.operation is not OperationType.SUBSCRIPTION:
            return super().execute_operation(serially)
        fanout = self.context_value.services.subscriptions.fanout
        return fanout.shared_result(
            self.root_value,
            self.operation,
            self.variable_values.coerced,
            lambda: super(ClientdeskExecutor, self).execute_operation(serially),
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """The fields in the order of the selection, as graphql-core executes them: plain
        leaves without a path or a resolve info, plain objects without Strawberry's resolver
        call, the rest (and any value a shortcut would not take) by graphql-core's
        `execute_field`. Under `@defer` (a delivery group as the position), graphql-core's."""
        if not self._shortcuts or position_context is not None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plan = self._plans.get(id(grouped_field_set))
        if plan is None or plan.grouped_field_set is not grouped_field_set:
            plan = selection_plan(parent_type, grouped_field_set)
            self._plans[id(grouped_field_set)] = plan
        values: dict[str, Any] = plan.keys.copy()  # every key in place, in selection order
        is_awaitable = self.is_awaitable
        awaited: list[str] = []
        try:
            for response_name, plain, field_details_list in plan.fields:
                if isinstance(plain, PlainLeaf):
                    try:
                        value = plain.read(source_value)
                    except Exception:  # graphql-core reads it again and reports the error
                        value = Undefined
                    else:
                        if type(value) is not plain.unchanged:
                            value = plain.completed(value)
                    if value is not Undefined:
                        values[response_name] = value
                        continue
                    plain = None  # graphql-core completes it, or says why it cannot
                field_path = Path(path, response_name, parent_type.name)
                result = (
                    Undefined
                    if plain is None
                    else self._complete_plain_field(
                        plain, parent_type, source_value, field_details_list, field_path
                    )
                )
                if result is Undefined:
                    result = super().execute_field(
                        parent_type, source_value, field_details_list, field_path, None
                    )
                    if result is Undefined:  # not a field of the type: left out of the answer
                        del values[response_name]
                        continue
                values[response_name] = result
                if type(result) is not dict and is_awaitable(result):  # an object's is a dict
                    awaited.append(response_name)
        except Exception:
            # A non-null field's error ends the object: what other fields started still settles.
            if awaited:
                self.settle_in_background([values[name] for name in awaited])
            raise
        if not awaited:
            return values

        async def gathered() -> dict[str, Any]:
            results = await self.gather_async_work([values[name] for name in awaited])
            values.update(zip(awaited, results, strict=True))
            return values

        return gathered()

    def _complete_plain_field(
        self,
        plain: PlainObject,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
    ) -> Any:
        """The field's answer (or an awaitable of it), its errors handled as graphql-core's
        `execute_field` handles them; Undefined before anything ran for a value graphql-core
        should take."""
        try:
            value = plain.read(source)
        except Exception:  # graphql-core reads it again and reports the error, with its path
            return Undefined
        if value is None:
            return None if plain.nullable and not plain.prefetched else Undefined
        is_list = plain.item_type is not None
        if is_list and (
            (type(value) is not list and type(value) is not tuple)
            or field_details_list[0].node.directives  # @stream
        ):
            return Undefined
        info = (
            self.build_resolve_info(
                plain.field, [details.node for details in field_details_list], parent_type, path
            )
            if plain.object_type.is_type_of
            else None
        )
        try:
            if plain.item_type is None:
                completed = self._complete_plain_object(
                    plain.object_type, field_details_list, info, path, value, None
                )
            else:
                completed = self._complete_objects(
                    plain.item_type,
                    plain.object_type,
                    field_details_list,
                    info,
                    path,
                    value,
                    None,
                )
        except Exception as raw_error:
            self.handle_field_error(raw_error, plain.field.type, field_details_list, path)
            return None
        if type(completed) is not dict and self.is_awaitable(completed):
            return self._settled(completed, plain.field.type, field_details_list, path)
        return completed

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: Any,
        info: ResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """A list of objects (a resolver's, as `emails` or `contacts`) completed item by item
        without graphql-core's per-item completion chain; other lists by graphql-core."""
        item_type = return_type.of_type
        object_type = get_nullable_type(item_type)
        if (
            isinstance(object_type, GraphQLObjectType)
            and (type(result) is list or type(result) is tuple)
            and not field_details_list[0].node.directives  # @stream
        ):
            completed = self._complete_objects(
                item_type,
                object_type,
                field_details_list,
                info if object_type.is_type_of else None,
                path,
                result,
                position_context,
            )
            if completed is not Undefined:
                return completed
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _complete_plain_object(
        self,
        object_type: GraphQLObjectType,
        field_details_list: Any,
        info: ResolveInfo | None,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """The object's sub-selection, as graphql-core completes an object (Undefined: a value
        it should complete itself: an error held as the value, an awaitable)."""
        if not self._is_settled(value):
            return Undefined
        if info is not None and not self._takes(object_type, value, info):
            return Undefined
        grouped_field_set, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        return self.execute_collected_subfields(
            object_type, value, path, grouped_field_set, defer_usages, position_context
        )

    def _is_settled(self, value: Any) -> bool:
        """Neither an error held as the value nor an awaitable: a value the shortcuts complete.
        Known per type once one of its values was (`await` looks `__await__` up on the type;
        a generator is told by its code's flags), as most values are the schema's objects."""
        kind = type(value)
        if kind in self._settled_types:
            return True
        if isinstance(value, Exception) or self.is_awaitable(value):
            return False
        if kind is not GeneratorType:
            self._settled_types.add(kind)
        return True

    @staticmethod
    def _takes(object_type: GraphQLObjectType, value: Any, info: ResolveInfo) -> bool:
        """Whether a type that checks its values takes this one: its `is_type_of` says so
        (not an awaitable of it). Otherwise graphql-core checks it again, and refuses it."""
        is_type_of = object_type.is_type_of
        return is_type_of is None or is_type_of(value, info) is True

    def _complete_objects(
        self,
        item_type: GraphQLOutputType,
        object_type: GraphQLObjectType,
        field_details_list: Any,
        info: ResolveInfo | None,
        path: Path,
        items: list[Any] | tuple[Any, ...],
        position_context: Any,
    ) -> Any:
        """Each item's sub-selection, an item's error handled as graphql-core handles it
        (nulled, or raised for a non-null item); Undefined before anything ran when an item
        is one graphql-core should complete itself (a null in a non-null position, an error
        held as the item, an awaitable, one its type does not take)."""
        is_awaitable = self.is_awaitable
        items_nullable = type(item_type) is not GraphQLNonNull
        for item in items:
            if item is None:
                if not items_nullable:
                    return Undefined
            elif not self._is_settled(item) or (
                info is not None and not self._takes(object_type, item, info)
            ):
                return Undefined
        # The items share one selection: collected once (graphql-core memoizes it per item).
        grouped_field_set, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        completed: list[Any] = []
        pending: list[int] = []
        try:
            for index, item in enumerate(items):
                item_path = path.add_key(index, None)
                if item is None:
                    completed.append(None)
                    continue
                try:
                    value = self.execute_collected_subfields(
                        object_type,
                        item,
                        item_path,
                        grouped_field_set,
                        defer_usages,
                        position_context,
                    )
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    value = None
                else:
                    if type(value) is not dict and is_awaitable(value):
                        value = self._settled(value, item_type, field_details_list, item_path)
                        pending.append(index)
                completed.append(value)
        except Exception:
            # A non-null item's error ends the list: what earlier items started still settles.
            self.track_async_work([completed[index] for index in pending])
            raise
        if not pending:
            return completed

        async def gathered() -> list[Any]:
            values = await self.gather_async_work([completed[index] for index in pending])
            for index, value in zip(pending, values, strict=True):
                completed[index] = value
            return completed

        return gathered()

    async def _settled(
        self, completing: Any, return_type: GraphQLOutputType, field_details_list: Any, path: Path
    ) -> Any:
        """An awaited completion, its error handled as graphql-core handles a field's."""
        try:
            return await completing
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
