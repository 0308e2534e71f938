/**
 * Minimal types for `sunshine-conversations-client` (CommonJS, ships no types),
 * covering what the compatibility suite uses. The API classes are typed method
 * by method; models are generated classes whose fields the suite reads
 * dynamically, so they stay loose.
 */
declare module 'sunshine-conversations-client' {
  namespace SunshineConversationsClient {
    class ApiClient {
      basePath: string;
      authentications: {
        basicAuth: { type: 'basic'; username?: string; password?: string };
        bearerAuth: { type: 'bearer'; accessToken?: string | (() => string) };
      };
      defaultHeaders: Record<string, string>;
      cache: boolean;
    }

    /** What every `...WithHttpInfo` call resolves to: the model and the raw superagent response. */
    interface HttpInfo<T> {
      data: T;
      response: { status: number; body: any; text: string; headers: Record<string, string> };
    }

    /** What a failed call rejects with. */
    interface ApiError {
      status?: number;
      statusText?: string;
      body?: any;
      error: Error;
    }

    /** Optional query parameters; the client sends only the first key of `page` and of `filter`. */
    interface PageOpts {
      page?: { after?: string; before?: string; size?: number };
    }

    class Model {
      constructor(...args: any[]);
      [field: string]: any;
      /** Builds the model from plain JSON, as the client does with a response body. */
      static constructFromObject(data: unknown, obj?: unknown): any;
    }

    class AppsApi {
      constructor(apiClient?: ApiClient);
      createApp(appCreateBody: object): Promise<AppResponse>;
      createAppWithHttpInfo(appCreateBody: object): Promise<HttpInfo<AppResponse>>;
      listApps(opts?: PageOpts & { filter?: { serviceAccountId?: string } }): Promise<AppListResponse>;
      listAppsWithHttpInfo(opts?: PageOpts & { filter?: { serviceAccountId?: string } }): Promise<HttpInfo<AppListResponse>>;
      getApp(appId: string): Promise<AppResponse>;
      getAppWithHttpInfo(appId: string): Promise<HttpInfo<AppResponse>>;
      updateApp(appId: string, appUpdateBody: object): Promise<AppResponse>;
      updateAppWithHttpInfo(appId: string, appUpdateBody: object): Promise<HttpInfo<AppResponse>>;
      deleteApp(appId: string): Promise<unknown>;
      deleteAppWithHttpInfo(appId: string): Promise<HttpInfo<unknown>>;
    }

    class AppKeysApi {
      constructor(apiClient?: ApiClient);
      createAppKey(appId: string, appKeyCreateBody: object): Promise<AppKeyResponse>;
      createAppKeyWithHttpInfo(appId: string, appKeyCreateBody: object): Promise<HttpInfo<AppKeyResponse>>;
      listAppKeys(appId: string): Promise<AppKeyListResponse>;
      listAppKeysWithHttpInfo(appId: string): Promise<HttpInfo<AppKeyListResponse>>;
      getAppKey(appId: string, keyId: string): Promise<AppKeyResponse>;
      getAppKeyWithHttpInfo(appId: string, keyId: string): Promise<HttpInfo<AppKeyResponse>>;
      deleteAppKey(appId: string, keyId: string): Promise<unknown>;
      deleteAppKeyWithHttpInfo(appId: string, keyId: string): Promise<HttpInfo<unknown>>;
    }

    class UsersApi {
      constructor(apiClient?: ApiClient);
      createUser(appId: string, userCreateBody: object): Promise<UserResponse>;
      createUserWithHttpInfo(appId: string, userCreateBody: object): Promise<HttpInfo<UserResponse>>;
      getUser(appId: string, userIdOrExternalId: string): Promise<UserResponse>;
      getUserWithHttpInfo(appId: string, userIdOrExternalId: string): Promise<HttpInfo<UserResponse>>;
      updateUser(appId: string, userIdOrExternalId: string, userUpdateBody: object): Promise<UserResponse>;
      updateUserWithHttpInfo(appId: string, userIdOrExternalId: string, userUpdateBody: object): Promise<HttpInfo<UserResponse>>;
      deleteUser(appId: string, userIdOrExternalId: string): Promise<unknown>;
      deleteUserWithHttpInfo(appId: string, userIdOrExternalId: string): Promise<HttpInfo<unknown>>;
      deleteUserPersonalInformation(appId: string, userIdOrExternalId: string): Promise<UserResponse>;
      deleteUserPersonalInformationWithHttpInfo(appId: string, userIdOrExternalId: string): Promise<HttpInfo<UserResponse>>;
    }

    class ClientsApi {
      constructor(apiClient?: ApiClient);
      listClients(appId: string, userIdOrExternalId: string, opts?: PageOpts): Promise<ClientListResponse>;
      listClientsWithHttpInfo(appId: string, userIdOrExternalId: string, opts?: PageOpts): Promise<HttpInfo<ClientListResponse>>;
      removeClient(appId: string, userIdOrExternalId: string, clientId: string): Promise<unknown>;
      removeClientWithHttpInfo(appId: string, userIdOrExternalId: string, clientId: string): Promise<HttpInfo<unknown>>;
      createClient(appId: string, userIdOrExternalId: string, clientCreate: object): Promise<ClientResponse>;
      createClientWithHttpInfo(appId: string, userIdOrExternalId: string, clientCreate: object): Promise<HttpInfo<ClientResponse>>;
    }

    class DevicesApi {
      constructor(apiClient?: ApiClient);
      listDevices(appId: string, userIdOrExternalId: string): Promise<DeviceListResponse>;
      listDevicesWithHttpInfo(appId: string, userIdOrExternalId: string): Promise<HttpInfo<DeviceListResponse>>;
      getDevice(appId: string, userIdOrExternalId: string, deviceId: string): Promise<DeviceResponse>;
      getDeviceWithHttpInfo(appId: string, userIdOrExternalId: string, deviceId: string): Promise<HttpInfo<DeviceResponse>>;
    }

    /** `source` is a file: an fs.ReadStream, a Buffer or a Blob. `_for` is sent as the `for` query parameter. */
    interface AttachmentUploadOpts {
      _for?: string;
      conversationId?: string;
    }

    class AttachmentsApi {
      constructor(apiClient?: ApiClient);
      uploadAttachment(appId: string, access: string, source: unknown, opts?: AttachmentUploadOpts): Promise<AttachmentResponse>;
      uploadAttachmentWithHttpInfo(appId: string, access: string, source: unknown, opts?: AttachmentUploadOpts): Promise<HttpInfo<AttachmentResponse>>;
      deleteAttachment(appId: string, attachmentDeleteBody: object): Promise<unknown>;
      deleteAttachmentWithHttpInfo(appId: string, attachmentDeleteBody: object): Promise<HttpInfo<unknown>>;
    }

    class WebhooksApi {
      constructor(apiClient?: ApiClient);
      createWebhook(appId: string, integrationId: string, webhookCreateBody: object): Promise<WebhookResponse>;
      createWebhookWithHttpInfo(appId: string, integrationId: string, webhookCreateBody: object): Promise<HttpInfo<WebhookResponse>>;
      listWebhooks(appId: string, integrationId: string): Promise<WebhookListResponse>;
      listWebhooksWithHttpInfo(appId: string, integrationId: string): Promise<HttpInfo<WebhookListResponse>>;
      getWebhook(appId: string, integrationId: string, webhookId: string): Promise<WebhookResponse>;
      getWebhookWithHttpInfo(appId: string, integrationId: string, webhookId: string): Promise<HttpInfo<WebhookResponse>>;
      updateWebhook(appId: string, integrationId: string, webhookId: string, webhookBody: object): Promise<WebhookResponse>;
      updateWebhookWithHttpInfo(appId: string, integrationId: string, webhookId: string, webhookBody: object): Promise<HttpInfo<WebhookResponse>>;
      deleteWebhook(appId: string, integrationId: string, webhookId: string): Promise<unknown>;
      deleteWebhookWithHttpInfo(appId: string, integrationId: string, webhookId: string): Promise<HttpInfo<unknown>>;
    }

    class ConversationsApi {
      constructor(apiClient?: ApiClient);
      createConversation(appId: string, conversationCreateBody: object): Promise<ConversationResponse>;
      createConversationWithHttpInfo(appId: string, conversationCreateBody: object): Promise<HttpInfo<ConversationResponse>>;
      getConversation(appId: string, conversationId: string): Promise<ConversationResponse>;
      getConversationWithHttpInfo(appId: string, conversationId: string): Promise<HttpInfo<ConversationResponse>>;
      updateConversation(appId: string, conversationId: string, conversationUpdateBody: object): Promise<ConversationResponse>;
      updateConversationWithHttpInfo(appId: string, conversationId: string, conversationUpdateBody: object): Promise<HttpInfo<ConversationResponse>>;
      deleteConversation(appId: string, conversationId: string): Promise<unknown>;
      deleteConversationWithHttpInfo(appId: string, conversationId: string): Promise<HttpInfo<unknown>>;
      listConversations(appId: string, filter: { userId?: string; userExternalId?: string }, opts?: PageOpts): Promise<ConversationListResponse>;
      listConversationsWithHttpInfo(
        appId: string,
        filter: { userId?: string; userExternalId?: string },
        opts?: PageOpts,
      ): Promise<HttpInfo<ConversationListResponse>>;
      downloadMessageRef(appId: string, conversationId: string, downloadMessageRefBody: object): Promise<Record<string, unknown>>;
      downloadMessageRefWithHttpInfo(appId: string, conversationId: string, downloadMessageRefBody: object): Promise<HttpInfo<Record<string, unknown>>>;
    }

    class ParticipantsApi {
      constructor(apiClient?: ApiClient);
      joinConversation(appId: string, conversationId: string, participantJoinBody: object): Promise<ParticipantResponse>;
      joinConversationWithHttpInfo(appId: string, conversationId: string, participantJoinBody: object): Promise<HttpInfo<ParticipantResponse>>;
      leaveConversation(appId: string, conversationId: string, participantLeaveBody: object): Promise<unknown>;
      leaveConversationWithHttpInfo(appId: string, conversationId: string, participantLeaveBody: object): Promise<HttpInfo<unknown>>;
      listParticipants(appId: string, conversationId: string, opts?: PageOpts): Promise<ParticipantListResponse>;
      listParticipantsWithHttpInfo(appId: string, conversationId: string, opts?: PageOpts): Promise<HttpInfo<ParticipantListResponse>>;
    }

    class MessagesApi {
      constructor(apiClient?: ApiClient);
      postMessage(appId: string, conversationId: string, messagePost: object): Promise<MessagePostResponse>;
      postMessageWithHttpInfo(appId: string, conversationId: string, messagePost: object): Promise<HttpInfo<MessagePostResponse>>;
      listMessages(appId: string, conversationId: string, opts?: PageOpts): Promise<MessageListResponse>;
      listMessagesWithHttpInfo(appId: string, conversationId: string, opts?: PageOpts): Promise<HttpInfo<MessageListResponse>>;
      deleteMessage(appId: string, conversationId: string, messageId: string): Promise<unknown>;
      deleteMessageWithHttpInfo(appId: string, conversationId: string, messageId: string): Promise<HttpInfo<unknown>>;
      deleteAllMessages(appId: string, conversationId: string): Promise<unknown>;
      deleteAllMessagesWithHttpInfo(appId: string, conversationId: string): Promise<HttpInfo<unknown>>;
    }

    class IntegrationsApi {
      constructor(client?: ApiClient);
      createIntegration(appId: string, integration: object): Promise<any>;
      createIntegrationWithHttpInfo(appId: string, integration: object): Promise<HttpInfo<any>>;
      listIntegrations(appId: string, opts?: PageOpts & { filter?: { types?: string } }): Promise<any>;
      listIntegrationsWithHttpInfo(appId: string, opts?: PageOpts & { filter?: { types?: string } }): Promise<HttpInfo<any>>;
      getIntegration(appId: string, integrationId: string): Promise<any>;
      getIntegrationWithHttpInfo(appId: string, integrationId: string): Promise<HttpInfo<any>>;
      updateIntegration(appId: string, integrationId: string, update: object): Promise<any>;
      updateIntegrationWithHttpInfo(appId: string, integrationId: string, update: object): Promise<HttpInfo<any>>;
      deleteIntegration(appId: string, integrationId: string): Promise<any>;
      deleteIntegrationWithHttpInfo(appId: string, integrationId: string): Promise<HttpInfo<any>>;
    }

    class SwitchboardsApi {
      constructor(apiClient?: ApiClient);
      createSwitchboard(appId: string): Promise<SwitchboardResponse>;
      createSwitchboardWithHttpInfo(appId: string): Promise<HttpInfo<SwitchboardResponse>>;
      listSwitchboards(appId: string): Promise<SwitchboardListResponse>;
      listSwitchboardsWithHttpInfo(appId: string): Promise<HttpInfo<SwitchboardListResponse>>;
      updateSwitchboard(appId: string, switchboardId: string, switchboardUpdateBody: object): Promise<SwitchboardResponse>;
      updateSwitchboardWithHttpInfo(appId: string, switchboardId: string, switchboardUpdateBody: object): Promise<HttpInfo<SwitchboardResponse>>;
      deleteSwitchboard(appId: string, switchboardId: string): Promise<unknown>;
      deleteSwitchboardWithHttpInfo(appId: string, switchboardId: string): Promise<HttpInfo<unknown>>;
    }

    class SwitchboardIntegrationsApi {
      constructor(apiClient?: ApiClient);
      createSwitchboardIntegration(appId: string, switchboardId: string, switchboardIntegrationCreateBody: object): Promise<SwitchboardIntegrationResponse>;
      createSwitchboardIntegrationWithHttpInfo(appId: string, switchboardId: string, switchboardIntegrationCreateBody: object): Promise<HttpInfo<SwitchboardIntegrationResponse>>;
      listSwitchboardIntegrations(appId: string, switchboardId: string): Promise<SwitchboardIntegrationListResponse>;
      listSwitchboardIntegrationsWithHttpInfo(appId: string, switchboardId: string): Promise<HttpInfo<SwitchboardIntegrationListResponse>>;
      updateSwitchboardIntegration(appId: string, switchboardId: string, switchboardIntegrationId: string, switchboardIntegrationUpdateBody: object): Promise<SwitchboardIntegrationResponse>;
      updateSwitchboardIntegrationWithHttpInfo(
        appId: string,
        switchboardId: string,
        switchboardIntegrationId: string,
        switchboardIntegrationUpdateBody: object,
      ): Promise<HttpInfo<SwitchboardIntegrationResponse>>;
      deleteSwitchboardIntegration(appId: string, switchboardId: string, switchboardIntegrationId: string): Promise<unknown>;
      deleteSwitchboardIntegrationWithHttpInfo(appId: string, switchboardId: string, switchboardIntegrationId: string): Promise<HttpInfo<unknown>>;
    }

    class SwitchboardActionsApi {
      constructor(apiClient?: ApiClient);
      passControl(appId: string, conversationId: string, passControlBody: object): Promise<unknown>;
      passControlWithHttpInfo(appId: string, conversationId: string, passControlBody: object): Promise<HttpInfo<unknown>>;
      offerControl(appId: string, conversationId: string, offerControlBody: object): Promise<unknown>;
      offerControlWithHttpInfo(appId: string, conversationId: string, offerControlBody: object): Promise<HttpInfo<unknown>>;
      acceptControl(appId: string, conversationId: string, acceptControlBody: object): Promise<unknown>;
      acceptControlWithHttpInfo(appId: string, conversationId: string, acceptControlBody: object): Promise<HttpInfo<unknown>>;
      releaseControl(appId: string, conversationId: string): Promise<unknown>;
      releaseControlWithHttpInfo(appId: string, conversationId: string): Promise<HttpInfo<unknown>>;
    }

    class CustomIntegrationApiKeysApi {
      constructor(apiClient?: ApiClient);
      createCustomIntegrationKey(appId: string, integrationId: string, integrationApiKey: object): Promise<IntegrationApiKeyResponse>;
      createCustomIntegrationKeyWithHttpInfo(appId: string, integrationId: string, integrationApiKey: object): Promise<HttpInfo<IntegrationApiKeyResponse>>;
      listCustomIntegrationKeys(appId: string, integrationId: string): Promise<IntegrationApiKeyListResponse>;
      listCustomIntegrationKeysWithHttpInfo(appId: string, integrationId: string): Promise<HttpInfo<IntegrationApiKeyListResponse>>;
      getCustomIntegrationKey(appId: string, integrationId: string, keyId: string): Promise<IntegrationApiKeyResponse>;
      getCustomIntegrationKeyWithHttpInfo(appId: string, integrationId: string, keyId: string): Promise<HttpInfo<IntegrationApiKeyResponse>>;
      deleteCustomIntegrationKey(appId: string, integrationId: string, keyId: string): Promise<unknown>;
      deleteCustomIntegrationKeyWithHttpInfo(appId: string, integrationId: string, keyId: string): Promise<HttpInfo<unknown>>;
    }

    class ActivitiesApi {
      constructor(apiClient?: ApiClient);
      postActivity(appId: string, conversationId: string, activityPost: object): Promise<unknown>;
      postActivityWithHttpInfo(appId: string, conversationId: string, activityPost: object): Promise<HttpInfo<unknown>>;
    }

    // Models: responses
    class App extends Model {}
    class AppSettings extends Model {}
    class AppResponse extends Model {}
    class AppListResponse extends Model {}
    class AppKey extends Model {}
    class AppKeyResponse extends Model {}
    class AppKeyListResponse extends Model {}
    class User extends Model {}
    class Profile extends Model {}
    class UserResponse extends Model {}
    class Client extends Model {}
    class ClientListResponse extends Model {}
    class ClientResponse extends Model {}
    class Conversation extends Model {}
    class ConversationResponse extends Model {}
    class ConversationListResponse extends Model {}
    class Participant extends Model {}
    class ParticipantResponse extends Model {}
    class ParticipantListResponse extends Model {}
    class Message extends Model {}
    class MessagePostResponse extends Model {}
    class MessageListResponse extends Model {}
    class Author extends Model {}
    class Source extends Model {}
    class Content extends Model {}
    class Action extends Model {}
    class ActionSubset extends Model {}
    class Item extends Model {}
    class FormResponseMessageField extends Model {}
    class Meta extends Model {}
    class Links extends Model {}
    class Switchboard extends Model {}
    class SwitchboardResponse extends Model {}
    class SwitchboardListResponse extends Model {}
    class SwitchboardIntegration extends Model {}
    class SwitchboardIntegrationResponse extends Model {}
    class SwitchboardIntegrationListResponse extends Model {}
    class SwitchboardIntegrationWebhook extends Model {}
    class Integration extends Model {}
    class IntegrationResponse extends Model {}
    class ApiKey extends Model {}
    class IntegrationApiKeyResponse extends Model {}
    class IntegrationApiKeyListResponse extends Model {}
    class Device extends Model {}
    class DeviceResponse extends Model {}
    class DeviceListResponse extends Model {}
    class AttachmentResponse extends Model {}
    class Webhook extends Model {}
    class WebhookResponse extends Model {}
    class WebhookListResponse extends Model {}
    class Web extends Model {}

    // Models: request bodies and content
    class AppCreateBody extends Model {}
    class AppUpdateBody extends Model {}
    class AppKeyCreateBody extends Model {}
    class UserCreateBody extends Model {}
    class UserUpdateBody extends Model {}
    class ConversationCreateBody extends Model {}
    class ConversationUpdateBody extends Model {}
    class ParticipantJoinBody extends Model {}
    class ParticipantLeaveBody extends Model {}
    class MessagePost extends Model {}
    class ActivityPost extends Model {}
    class TextMessage extends Model {}
    class ImageMessage extends Model {}
    class FileMessage extends Model {}
    class CarouselMessage extends Model {}
    class CarouselMessageDisplaySettings extends Model {}
    class ListMessage extends Model {}
    class LocationMessage extends Model {}
    class LocationMessageCoordinates extends Model {}
    class LocationMessageLocation extends Model {}
    class FormMessage extends Model {}
    class FormMessageField extends Model {}
    class TemplateMessage extends Model {}
    class Link extends Model {}
    class Webview extends Model {}
    class Postback extends Model {}
    class Reply extends Model {}
    class Buy extends Model {}
    class LocationRequest extends Model {}
    class SwitchboardUpdateBody extends Model {}
    class SwitchboardIntegrationCreateBody extends Model {}
    class SwitchboardIntegrationUpdateBody extends Model {}
    class PassControlBody extends Model {}
    class OfferControlBody extends Model {}
    class AcceptControlBody extends Model {}
    class IntegrationApiKey extends Model {}
    class Custom extends Model {}
    class WebhookCreateBody extends Model {}
    class DownloadMessageRefBody extends Model {
      constructor(userId: string);
    }
    class AttachmentDeleteBody extends Model {}
    class ClientCreate extends Model {}
    class MatchCriteriaTwilio extends Model {}
    class MatchCriteriaWhatsapp extends Model {}
    class Confirmation extends Model {}
    class Target extends Model {}
  }
  export = SunshineConversationsClient;
}
