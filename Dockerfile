# Build: docker build -t dispatch .
# Run:   docker run --rm --env-file dispatch.env -p 8080:8080 dispatch
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/dispatch-oss/dispatch/bot.Version=${VERSION}" \
      -o /out/dispatch .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dispatch /dispatch
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/dispatch"]
CMD ["run"]
