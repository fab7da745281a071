from datetime import timedelta

from flask import Response, stream_with_context

from blueprints.admin_api import bp
from blueprints.http import ApiError, time_arg
from database import utcnow
from extensions import db
from services.analytics import exports


@bp.get("/export/<dataset>.csv")
def export_csv(dataset: str):
    if dataset not in exports.DATASETS:
        raise ApiError(404, f"unknown dataset {dataset}; one of {', '.join(exports.DATASETS)}")
    end = time_arg("end") or utcnow()
    start = time_arg("start") or end - timedelta(days=1)
    if start >= end:
        raise ApiError(422, "start must be before end")
    filename = f"{dataset}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
    lines = stream_with_context(exports.csv_lines(db.session, dataset, start, end))
    return Response(lines, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
