"""SPEC 10.2 at the domain layer: the general settings, read and changed."""

from __future__ import annotations

import asyncio

import asyncpg

from domain.settings import (
    ClientDisplayFormat,
    GeneralSettings,
    PasswordResetMode,
    get_general_settings,
    update_general_settings,
)


async def test_10_2_general_settings_have_their_defaults_until_changed(
    conn: asyncpg.Connection,
) -> None:
    assert await get_general_settings(conn) == GeneralSettings(
        client_display_format=ClientDisplayFormat.NAME_ONLY,
        password_reset_mode=PasswordResetMode.CHOOSE_PASSWORD,
    )


async def test_10_2_changing_one_setting_keeps_the_others(conn: asyncpg.Connection) -> None:
    await update_general_settings(conn, password_reset_mode=PasswordResetMode.EMAIL_RANDOM)

    updated = await update_general_settings(
        conn, client_display_format=ClientDisplayFormat.COMPANY_IF_SET
    )

    expected = GeneralSettings(
        client_display_format=ClientDisplayFormat.COMPANY_IF_SET,
        password_reset_mode=PasswordResetMode.EMAIL_RANDOM,
    )
    assert updated == expected
    assert await get_general_settings(conn) == expected


async def test_10_2_two_staff_saving_different_settings_at_once_both_keep_their_change(
    pool: asyncpg.Pool,
) -> None:
    # Nothing saved yet: the first save creates the stored settings, so there is no row to lock.
    async with pool.acquire() as first, pool.acquire() as second:
        await asyncio.gather(
            update_general_settings(
                first, client_display_format=ClientDisplayFormat.NAME_AND_COMPANY
            ),
            update_general_settings(second, password_reset_mode=PasswordResetMode.EMAIL_RANDOM),
        )

        assert await get_general_settings(first) == GeneralSettings(
            client_display_format=ClientDisplayFormat.NAME_AND_COMPANY,
            password_reset_mode=PasswordResetMode.EMAIL_RANDOM,
        )
