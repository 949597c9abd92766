"""A stack in an account of its own refuses credentials of any other account (`aws_context.py`)."""

from __future__ import annotations

import pytest

from aws_context import WrongAccount, check_account


def test_a_stack_without_an_account_runs_in_the_callers():
    check_account("", "123456789012", "arn:aws:iam::123456789012:user/mock")


def test_a_stack_runs_in_its_own_account():
    check_account("222222222222", "222222222222", "arn:aws:iam::222222222222:user/mock")


def test_credentials_of_another_account_are_refused_naming_both():
    with pytest.raises(WrongAccount, match="deploys into AWS account 222222222222.*of account 111111111111"):
        check_account("222222222222", "111111111111", "arn:aws:iam::111111111111:user/mock")
