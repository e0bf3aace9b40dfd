from tests.conftest import gql


async def test_add_client_and_send_welcome(api, admin_token, run_worker, services):
    body = await gql(
        api,
        """mutation { addClient(input: {firstName: "Joe", lastName: "Bloggs",
            email: "joe@example.com", country: "GB"}) {
              client { id displayName email currency { code } }
              errors { field code message } } }""",
        token=admin_token,
    )
    print(body)
    assert body["data"]["addClient"]["errors"] == []
    await run_worker()
    assert len(services.mail.messages) == 1
