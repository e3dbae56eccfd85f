"""When the daily job runs by itself: cron expressions as crontab(5) reads them, and the
daemon that fires the job on them."""
