# The image `resimatectl backup schedule` runs in its CronJob: resimatectl beside PostgreSQL's
# client tools (pg_dump and pg_restore of the newest major version, which read older servers),
# as an unprivileged user. GoReleaser builds it with each release (dockers_v2 puts each
# platform's binary under <os>/<arch>/ in the build context).
FROM alpine:3.22
ARG TARGETPLATFORM
RUN apk add --no-cache postgresql17-client ca-certificates \
 && adduser -D -H -u 65532 resimatectl
COPY ${TARGETPLATFORM}/resimatectl /usr/local/bin/resimatectl
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/resimatectl"]
