"""The list of routers the app serves. Each domain adds its API and page routers here."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from gongshu.sharing import delivery_api
    from gongshu.web.api import auth as auth_api
    from gongshu.web.pages import admin, audit, auth_account, shell
    from gongshu.web.pages import auth as auth_pages

    # R19 service interfaces first: the row API (/api/v1/data/{code}/rows) and its receipts are the
    # platform's busiest routes and no other route matches their paths, so they are matched first.
    found: list[APIRouter] = [delivery_api.router]
    found += [shell.router, admin.router, audit.router]
    found += [auth_pages.router, auth_account.router, auth_api.router]
    from gongshu.web.api import cases as cases_api
    from gongshu.web.pages import cases as case_pages

    found += [case_pages.router, cases_api.router]
    from gongshu.catalog import api as catalog_api
    from gongshu.catalog import pages as catalog_pages
    from gongshu.catalog import pages_io as catalog_io
    from gongshu.catalog import pages_procedures as catalog_procedures

    # The import/export and procedure routes come before the catalog's /catalog/{code} route.
    found += [catalog_io.router, catalog_io.api_router, catalog_procedures.router]
    from gongshu.interop import ckan_api, dcat_api

    # DCAT's /catalog/{code}.ttl and .jsonld come before the catalog's /catalog/{code} page too.
    found += [dcat_api.router, ckan_api.router]
    from gongshu.catalog import pages_review as catalog_review

    # The authority's review queue (/catalog/review) comes before the catalog's /catalog/{code} page.
    found += [catalog_review.router]
    found += [catalog_pages.router, catalog_api.router]
    from gongshu.aggregation import api as data_api
    from gongshu.aggregation import pages as data_pages
    from gongshu.quality import pages_reports as quality_reports

    # The quality reports (/data/quality...) come before the data pages' /data/{code}/... routes.
    found += [quality_reports.router]
    from gongshu.aggregation import pages_basedata, pages_interface, pages_records, pages_resubmit
    from gongshu.quality import pages_objections

    # R13: a batch's refused rows (/data/batches/{id}/refused.csv, /data/batches/{id}/resubmit) come
    # before the data pages' /data/{code}/... routes.
    found += [
        pages_basedata.router,
        pages_interface.router,
        pages_resubmit.router,
        pages_records.router,  # R13: /data/{code}/records — a record and its history
        pages_interface.api_router,
        pages_objections.router,
    ]
    from gongshu.aggregation import pages_sources, push

    # Freshness (/data/freshness) and the pull sources come before the data pages' routes.
    found += [pages_sources.router, push.router]
    from gongshu.sharing import sse as stream_sse

    # R19 data streams (/api/v1/data/{code}/stream).
    found += [stream_sse.router]
    found += [data_pages.router, data_api.router]
    from gongshu.sharing import api as sharing_api
    from gongshu.sharing import pages as sharing_pages
    from gongshu.sharing import pages_delivery

    # R19 database tables and file exchange (/sharing/delivery...).
    found += [pages_delivery.router]
    from gongshu.sharing import pages_setup

    # R19: the consumer's delivery set-up page (/sharing/setup).
    found += [pages_setup.router]

    # R15–R18, R26: sharing applications, reviews, grants (/sharing/..., /api/v1/sharing/...).
    found += [sharing_pages.router, sharing_api.router]
    from gongshu.sharing import pages_emergency, pages_return

    # R21 emergencies (/emergency...) and R20 data return (/sharing/return).
    found += [pages_emergency.router, pages_return.router]
    return found
