"""How the schema executes an operation: Strawberry's executor (graphql-core's, through the
`execution_context_class` Strawberry's schema takes), with one shortcut per leaf value.

Most values of a response are strings and booleans read from attributes (a page of 50
clients is about a thousand of them). For each, graphql-core completes the non-null wrapper,
then the scalar, then serialises the value, which for a `str` of a String or an ID and a
`bool` of a Boolean returns it unchanged (`serialize_string`, `serialize_id`,
`serialize_boolean`). Such a value is returned as it is; every other value, and every
other type, goes through graphql-core's own completion.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLBoolean, GraphQLID, GraphQLNonNull, GraphQLOutputType, GraphQLString
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# The scalars whose serialisation returns a value of this Python type unchanged.
UNCHANGED_BY_SERIALIZING: dict[GraphQLOutputType, type] = {
    GraphQLString: str,
    GraphQLID: str,
    GraphQLBoolean: bool,
}


class ClientdeskExecutor(StrawberryGraphQLCoreExecutionContext):
    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        named = return_type.of_type if type(return_type) is GraphQLNonNull else return_type
        if type(result) is UNCHANGED_BY_SERIALIZING.get(named):
            return result
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )
